"""Every kind of refused caller is counted by kind, while the caller is told the same 401 as before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.auth.keys import create_key
from purpose_agent.auth.principal import Role
from purpose_agent.settings import Settings
from tests.app_context import context
from tests.auth.test_tokens import PASSWORD, forged, new_user, sign_in
from tests.conftest import api_client
from tests.metrics import Scrape, moved, scrape

FAILURES = "purpose_agent_auth_failures_total"


async def refused(app: FastAPI, **headers: str) -> None:
    async with api_client(app) as caller:
        response = await caller.get("/api/agents", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] in {
        "The credentials are invalid.",
        "Credentials are required: an API key as X-API-Key, or Authorization: Bearer with a key or token.",
    }


async def test_refused_keys_and_tokens_are_counted_by_kind(
    app: FastAPI, client: AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    revoked = await create_key(session, name="old", role=Role.user)
    expired = await create_key(
        session, name="temp", role=Role.user, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert (await client.delete(f"/api/keys/{revoked.id}")).status_code == 204
    signing_key = context(app).tokens.policy.signing_key
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    old_token = forged(settings, key=signing_key, claims={"iat": hour_ago, "nbf": hour_ago, "exp": hour_ago})
    # A valid signature for one of our users who does not exist (deleted): their access is withdrawn.
    gone_user = context(app).tokens.issue(
        subject=f"user:{uuid.uuid4()}", role="user", name="gone", now=datetime.now(UTC)
    )

    before = await scrape(client)
    await refused(app)
    await refused(app, **{"X-API-Key": "pa_" + "x" * 43})
    await refused(app, **{"X-API-Key": "not-a-key"})
    await refused(app, **{"Authorization": f"Bearer {forged(settings)}"})
    await refused(app, **{"X-API-Key": revoked.secret})
    await refused(app, **{"X-API-Key": expired.secret})
    await refused(app, **{"Authorization": f"Bearer {old_token}"})
    await refused(app, **{"Authorization": f"Bearer {gone_user.token}"})
    after = await scrape(client)

    assert counts(before, after) == {"missing": 1, "invalid": 3, "revoked": 2, "expired": 2}


async def test_a_role_that_does_not_suffice_and_failed_sign_ins_are_counted(
    app: FastAPI, client: AsyncClient, user_key: str
) -> None:
    username = await new_user(client)
    before = await scrape(client)
    async with api_client(app, user_key) as user:
        assert (await user.get("/api/keys")).status_code == 403
    for _ in range(5):
        assert (await sign_in(app, username, "wrong password here"))[0] == 401
    assert (await sign_in(app, username, PASSWORD))[0] == 429, "throttled after five failures"
    after = await scrape(client)
    assert counts(before, after) == {"forbidden": 1, "login_failed": 5, "login_throttled": 1}


def counts(before: Scrape, after: Scrape) -> dict[str, int]:
    """How many refusals of each kind happened between two scrapes (kinds that did not move left out)."""
    kinds = after.label_values(FAILURES, "kind")
    grown = {kind: int(moved(before, after, FAILURES, kind=kind)) for kind in kinds}
    return {kind: count for kind, count in grown.items() if count}
