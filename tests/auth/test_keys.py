"""API keys as a client meets them: missing, wrong, revoked, expired, too weak a role, and both headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.auth.keys import create_key
from purpose_agent.auth.models import ApiKey
from purpose_agent.auth.principal import Role
from tests.conftest import api_client


async def test_no_credentials_is_a_401_problem_with_a_challenge(anonymous_client: AsyncClient) -> None:
    response = await anonymous_client.get("/api/knowledge/categories")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["title"] == "Unauthorized"


async def test_a_user_key_is_refused_admin_routes_with_403_and_admitted_to_search(
    user_client: AsyncClient,
) -> None:
    refused = await user_client.get("/api/knowledge/categories")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This needs the admin role."
    assert (await user_client.post("/api/knowledge/search", json={"query": "kettle"})).status_code == 200
    me = (await user_client.get("/api/auth/me")).json()
    assert (me["name"], me["role"]) == ("test user", "user"), "a client learns what it may offer"
    assert me["id"].startswith("key:")


async def test_a_bearer_key_works_and_only_its_digest_is_stored(app: FastAPI, session: AsyncSession) -> None:
    issued = await create_key(session, name="ci", role=Role.admin)
    async with api_client(app) as client:
        response = await client.get(
            "/api/knowledge/categories", headers={"Authorization": f"Bearer {issued.secret}"}
        )
    assert response.status_code == 200
    key = await session.get(ApiKey, issued.id, populate_existing=True)
    assert key is not None
    assert issued.secret.startswith(key.prefix)
    assert issued.secret not in (key.digest, key.prefix)


async def test_unknown_revoked_and_expired_keys_are_all_invalid(
    app: FastAPI, session: AsyncSession, client: AsyncClient
) -> None:
    revoked = await create_key(session, name="old", role=Role.admin)
    expired = await create_key(
        session, name="temp", role=Role.admin, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    async with api_client(app, revoked.secret) as revoked_client:
        assert (await revoked_client.get("/api/knowledge/categories")).status_code == 200, "now cached"
        assert (await client.delete(f"/api/keys/{revoked.id}")).status_code == 204
        refused = await revoked_client.get("/api/knowledge/categories")
        assert refused.status_code == 401, "refused on its next use, cached or not"
    for secret in (expired.secret, "pa_" + "x" * 43, "not-a-key"):
        async with api_client(app, secret) as client:
            response = await client.get("/api/knowledge/categories")
        assert response.status_code == 401
        assert response.json()["detail"] == "The credentials are invalid."
