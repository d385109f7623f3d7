"""The audit log as an admin and an auditor meet it: admin writes leave entries naming who did them,
failed writes leave none, detached entries outlive their request, old entries expire, and no
secret or personal datum of the input is ever stored."""

from __future__ import annotations

import json
import string
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request

from purpose_agent.audit import service as audit
from purpose_agent.audit.models import AuditEntry
from purpose_agent.audit.service import AuditContext, record, record_detached
from purpose_agent.audit.tasks import RETENTION_TASK, delete_expired_audit
from purpose_agent.auth.keys import create_key, digest
from purpose_agent.auth.models import ApiKey
from purpose_agent.auth.principal import Principal, Role
from purpose_agent.composition import worker_app
from purpose_agent.kit.request_context import accepted_request_id
from purpose_agent.settings import Settings
from tests.app_context import context
from tests.conftest import api_client
from tests.kit.test_redaction import (
    API_KEYS,
    B64URL,
    BEARER_TOKENS,
    EMAILS,
    JWTS,
    PHONES,
    cards,
    embedded,
)
from tests.personas.factories import persona_body

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CLI = AuditContext(actor="cli:operator", actor_name="operator")


async def principal_id(session: AsyncSession, secret: str) -> str:
    key = await session.scalar(select(ApiKey).where(ApiKey.digest == digest(secret)))
    assert key is not None
    return f"key:{key.id}"


async def entries(session: AsyncSession, action_prefix: str = "") -> list[AuditEntry]:
    """The stored entries (of actions with this prefix), oldest first."""
    found = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action.startswith(action_prefix))
        .order_by(AuditEntry.id)
        .execution_options(populate_existing=True)
    )
    return list(found)


async def create_entry(
    session: AsyncSession,
    *,
    at: datetime,
    action: str = "persona.update",
    actor: str = "key:someone",
    target: str | None = "support-bot",
    outcome: str = "ok",
) -> AuditEntry:
    entry = AuditEntry(at=at, actor=actor, action=action, target=target, outcome=outcome)
    session.add(entry)
    await session.flush()
    return entry


async def test_creating_updating_and_deleting_a_persona_leaves_three_entries_naming_the_admin(
    client: AsyncClient, session: AsyncSession, admin_key: str
) -> None:
    admin = await principal_id(session, admin_key)
    created = await client.post("/api/personas", json=persona_body(), headers={"X-Request-ID": "req-create"})
    assert created.status_code == 201
    replacement = {key: value for key, value in persona_body(name="Kettle Help").items() if key != "id"}
    updated = await client.put("/api/personas/support-bot", json=replacement)
    assert updated.status_code == 200
    assert (await client.delete("/api/personas/support-bot")).status_code == 204

    listed = await client.get("/api/admin/audit", params={"action": "persona."})
    assert listed.status_code == 200
    page = listed.json()
    assert page["total"] == 3
    assert [(item["action"], item["target"]) for item in page["items"]] == [
        ("persona.delete", "support-bot"),
        ("persona.update", "support-bot"),
        ("persona.create", "support-bot"),
    ], "newest first"
    for item in page["items"]:
        assert (item["actor"], item["outcome"], item["details"]["actor_name"]) == (admin, "ok", "test admin")
        assert item["client_address"] == "127.0.0.1"
        assert item["at"] is not None
    assert page["items"][0]["details"]["force"] is False
    assert page["items"][2]["request_id"] == "req-create"
    assert page["items"][1]["request_id"] == updated.headers["x-request-id"], "a generated one"


async def test_a_forced_delete_is_noted_and_a_request_id_that_is_a_key_is_redacted(
    client: AsyncClient, session: AsyncSession
) -> None:
    key_like_id = "pa_" + "Q" * 30
    assert accepted_request_id(key_like_id) == key_like_id, "a client may send it as its request id"
    assert (await client.post("/api/personas", json=persona_body())).status_code == 201
    response = await client.delete(
        "/api/personas/support-bot", params={"force": "true"}, headers={"X-Request-ID": key_like_id}
    )
    assert response.status_code == 204
    deleted = (await entries(session, "persona.delete"))[0]
    assert deleted.details is not None
    assert deleted.details["force"] is True
    assert deleted.request_id == "[API_KEY]"


async def test_category_and_document_writes_are_audited_with_the_upload_outcome(
    client: AsyncClient, session: AsyncSession
) -> None:
    assert (await client.post("/api/knowledge/categories", json={"name": "manuals"})).status_code == 201

    async def upload(data: bytes) -> dict[str, Any]:
        response = await client.post(
            "/api/knowledge/documents",
            files={"file": ("alice@example.com.txt", data, "text/plain")},
            data={"category": "manuals"},
        )
        assert response.status_code in (200, 202)
        body: dict[str, Any] = response.json()
        return body

    document_id = (await upload(b"Descale the kettle monthly.\n"))["document_id"]
    await upload(b"Descale the kettle monthly.\n")
    await upload(b"Descale the kettle every two weeks.\n")
    assert (await client.post(f"/api/knowledge/documents/{document_id}/reingest")).status_code == 202
    assert (await client.delete(f"/api/knowledge/documents/{document_id}")).status_code == 204
    assert (await client.delete("/api/knowledge/categories/manuals")).status_code == 204

    stored = await entries(session)
    assert [(entry.action, entry.target) for entry in stored] == [
        ("category.create", "manuals"),
        ("document.upload", document_id),
        ("document.upload", document_id),
        ("document.upload", document_id),
        ("document.reingest", document_id),
        ("document.delete", document_id),
        ("category.delete", "manuals"),
    ]
    uploads = [entry.details for entry in stored if entry.action == "document.upload"]
    assert [details["outcome"] for details in uploads if details] == ["created", "unchanged", "replaced"]
    # The file name held an e-mail address: the entry does not.
    assert {details["source_name"] for details in uploads if details} == {"[EMAIL]"}
    assert {details["category"] for details in uploads if details} == {"manuals"}


async def test_failed_and_refused_writes_leave_no_entry(
    client: AsyncClient, user_client: AsyncClient, session: AsyncSession
) -> None:
    assert (await client.post("/api/personas", json=persona_body())).status_code == 201
    assert (await client.post("/api/personas", json=persona_body(name="Again"))).status_code == 409
    replacement = {key: value for key, value in persona_body().items() if key != "id"}
    assert (await client.put("/api/personas/nobody-here", json=replacement)).status_code == 404
    assert (await client.delete("/api/knowledge/categories/nowhere")).status_code == 404
    assert (await user_client.delete("/api/personas/support-bot")).status_code == 403

    assert [(entry.action, entry.outcome) for entry in await entries(session)] == [("persona.create", "ok")]


async def test_a_detached_entry_outlives_the_request_that_rolls_back(
    engine: AsyncEngine, test_sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    # In production the request and the detached write hold two connections of the pool. Here a second
    # connection, in a transaction of its own that is rolled back at the end, plays the other one.
    async with engine.connect() as other:
        outer = await other.begin()
        detached = async_sessionmaker(
            bind=other, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            async with test_sessionmaker() as request_session:
                await record(request_session, CLI, action="persona.create", target="doomed")
                entry_id = await record_detached(
                    detached,
                    CLI,
                    action="auth.key_denied",
                    outcome="denied",
                    actor="key:pa_AbCdEfGhI",
                    details={"reason": "revoked"},
                )
                await request_session.rollback()

            async with detached() as reader:
                kept = await reader.get(AuditEntry, entry_id)
                assert kept is not None
                assert (kept.action, kept.outcome, kept.actor) == (
                    "auth.key_denied",
                    "denied",
                    "key:pa_AbCdEfGhI",
                )
                # The caller named the actor: the context's principal name does not describe it.
                assert kept.details == {"reason": "revoked"}
            assert await entries(session, "persona.create") == [], "the request's own entry went with it"
        finally:
            await outer.rollback()


def test_the_context_of_a_request_prefers_the_trusted_proxy_address() -> None:
    principal = Principal(id="key:abc", name="ops laptop", role=Role.admin)
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [],
        "client": ("10.0.0.7", 51000),
        "state": {"principal": principal, "request_id": "r-1"},
    }
    assert AuditContext.of(Request(scope)) == AuditContext("key:abc", "ops laptop", "r-1", "10.0.0.7")
    scope["state"]["client_address"] = "203.0.113.9"
    assert AuditContext.of(Request(scope)).client_address == "203.0.113.9"
    anonymous = AuditContext.of(Request({**scope, "state": {}, "client": None}))
    assert anonymous == AuditContext(audit.ANONYMOUS)


async def test_bad_actions_and_outcomes_are_refused(session: AsyncSession) -> None:
    for action in ("persona", "Persona.Create", "persona.create!", "a." + "b" * 63):
        with pytest.raises(ValueError, match="action"):
            await record(session, CLI, action=action)
    with pytest.raises(ValueError, match="outcome"):
        await record(session, CLI, action="persona.create", outcome="Not OK")
    assert await entries(session) == []


async def test_the_list_is_paginated_newest_first_and_filtered(
    client: AsyncClient, session: AsyncSession
) -> None:
    day = timedelta(days=1)
    await create_entry(session, at=NOW - 3 * day, action="persona.create", actor="key:a")
    await create_entry(session, at=NOW - 2 * day, action="persona.update", actor="key:b")
    await create_entry(session, at=NOW - day, action="category.create", actor="key:a", target="manuals")
    await create_entry(
        session, at=NOW, action="auth.login_failed", actor="mallory", target=None, outcome="failed"
    )

    async def listed(**params: object) -> tuple[int, list[str]]:
        response = await client.get("/api/admin/audit", params=params)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        body = response.json()
        return body["total"], [item["action"] for item in body["items"]]

    everything = ["auth.login_failed", "category.create", "persona.update", "persona.create"]
    assert await listed() == (4, everything)
    first = (await client.get("/api/admin/audit", params={"limit": 2})).json()
    assert (first["total"], first["limit"], first["offset"]) == (4, 2, 0)
    assert [item["action"] for item in first["items"]] == everything[:2]
    assert await listed(limit=2, offset=2) == (4, everything[2:])
    assert await listed(offset=10) == (4, [])

    assert await listed(actor="key:a") == (2, ["category.create", "persona.create"])
    assert await listed(action="persona.") == (2, ["persona.update", "persona.create"])
    assert await listed(action="persona.update") == (1, ["persona.update"])
    assert await listed(action="persona.upd") == (0, []), "a prefix ends with a dot"
    assert await listed(target="manuals") == (1, ["category.create"])
    assert await listed(outcome="failed") == (1, ["auth.login_failed"])
    assert await listed(since=(NOW - day).isoformat()) == (2, ["auth.login_failed", "category.create"])
    assert await listed(until=(NOW - day).isoformat()) == (2, ["persona.update", "persona.create"])
    assert await listed(
        since=(NOW - 2 * day).isoformat(), until=NOW.isoformat(), actor="key:b", action="persona."
    ) == (1, ["persona.update"])
    assert await listed(since="2026-06-01T14:00:00+02:00") == (1, ["auth.login_failed"]), "offsets respected"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "query.since"),
        ({"since": "2026-06-01T12:00:00"}, "query.since"),  # no offset: ambiguous
        ({"until": "2026-13-01T00:00:00Z"}, "query.until"),
        ({"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "query.until"),
        ({"action": "persona"}, "query.action"),
        ({"action": "Persona.Create"}, "query.action"),
        ({"action": "persona.%"}, "query.action"),
        ({"outcome": "OK!"}, "query.outcome"),
        ({"actor": ""}, "query.actor"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
        ({"offset": -1}, "query.offset"),
    ],
)
async def test_bad_filters_are_a_422_problem_naming_the_field(
    client: AsyncClient, params: dict[str, object], field: str
) -> None:
    response = await client.get("/api/admin/audit", params=params)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_only_admins_read_the_audit_log(
    user_client: AsyncClient, anonymous_client: AsyncClient
) -> None:
    assert (await user_client.get("/api/admin/audit")).status_code == 403
    assert (await anonymous_client.get("/api/admin/audit")).status_code == 401


async def test_retention_deletes_only_entries_older_than_it_in_batches(
    session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    retention = timedelta(days=90)
    second = timedelta(seconds=1)
    old = [await create_entry(session, at=NOW - retention - age) for age in (second, timedelta(days=400))]
    old.append(await create_entry(session, at=NOW - retention - 2 * second))
    kept = [await create_entry(session, at=NOW - retention), await create_entry(session, at=NOW - second)]
    old_ids = {entry.id for entry in old}

    assert await delete_expired_audit(test_sessionmaker, NOW, 90, batch=2) == 3
    assert [entry.id for entry in await entries(session)] == [entry.id for entry in kept]
    assert old_ids.isdisjoint(entry.id for entry in await entries(session))
    assert await delete_expired_audit(test_sessionmaker, NOW, 90, batch=2) == 0
    assert await delete_expired_audit(test_sessionmaker, NOW + 2 * second, 90, batch=2) == 1, "now it is old"

    with pytest.raises(ValueError, match="at least 1"):
        await delete_expired_audit(test_sessionmaker, NOW, 0, batch=2)


async def test_every_long_running_worker_schedules_the_retention(
    app: FastAPI, settings: Settings, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    def periodic_tasks(maintenance: bool) -> set[str]:
        jobs = worker_app(settings, test_sessionmaker, context(app).embedder, maintenance=maintenance)
        return {task.task.name for task in jobs.periodic_registry.periodic_tasks.values()}

    assert RETENTION_TASK in periodic_tasks(maintenance=True)
    assert RETENTION_TASK not in periodic_tasks(maintenance=False)


# --- No secret or personal datum of the input is stored ---

SECRETS = st.one_of(EMAILS, cards(), PHONES, JWTS, API_KEYS, BEARER_TOKENS.map("Bearer {}".format))
SECRET_KEYS = st.sampled_from(
    ["password", "Password", "db_password", "client_secret", "api_key", "X-Api-Key", "authorization",
     "refresh_token", "access-token", "passwd"]
)  # fmt: skip
PASSWORDS = st.text(
    alphabet=string.ascii_letters + string.digits + "!#$%^*-_", min_size=12, max_size=40
).filter(
    # All digits might equal some number stored by right, such as a count.
    lambda password: any(char.isalpha() for char in password)
)


def secret_part(value: str) -> str:
    """What must not be stored: the credential of a bearer header (the scheme word is no secret)."""
    return value.removeprefix("Bearer ")


@examples(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    in_text=embedded(SECRETS),
    alone=SECRETS,
    card_number=cards().map(lambda card: int(card.replace(" ", "").replace("-", ""))),
    secret_key=SECRET_KEYS,
    password=PASSWORDS,
    actor=embedded(SECRETS),
    target=SECRETS,
    request_id=st.one_of(API_KEYS, PHONES, JWTS).filter(lambda value: accepted_request_id(value) is not None),
    key_name=st.text(alphabet=B64URL, max_size=8),
)
async def test_no_secret_of_the_input_reaches_a_stored_entry(
    session: AsyncSession,
    in_text: tuple[str, str],
    alone: str,
    card_number: int,
    secret_key: str,
    password: str,
    actor: tuple[str, str],
    target: str,
    request_id: str,
    key_name: str,
) -> None:
    text, secret_in_text = in_text
    actor_text, secret_in_actor = actor
    details = {
        "note": text,
        secret_key: password,
        "amount": card_number,
        "nested": {"items": [alone, {secret_key: password}], f"{key_name}{secret_key}": password},
        alone: "a key that is itself a secret",
    }
    context = AuditContext(
        actor="key:x", actor_name=alone, request_id=request_id, client_address="198.51.100.4"
    )
    # Each example in a savepoint of its own, so that a failing one leaves nothing for the next.
    example = await session.begin_nested()
    try:
        await record(
            session, context, action="auth.login_failed", target=target, details=details, actor=actor_text
        )
        # No actor given: the context's principal name (a secret here) goes into the details.
        await record(session, context, action="persona.update", details={"note": text})
        # Everything stored but the client address, which is the one thing kept as it is.
        stored = [
            json.dumps([entry.actor, entry.target, entry.request_id, entry.details], ensure_ascii=False)
            for entry in await entries(session)
        ]
        addresses = {entry.client_address for entry in await entries(session)}
    finally:
        await example.rollback()

    assert len(stored) == 2
    assert addresses == {"198.51.100.4"}
    for written in stored:
        for secret in (
            secret_in_text,
            alone,
            target,
            secret_in_actor,
            request_id,
            password,
            str(card_number),
        ):
            assert secret_part(secret) not in written
        assert secret_key not in written, "a key that names a secret is dropped with its value"


def test_details_keep_plain_values_and_become_json() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    document = uuid.UUID("12345678-1234-5678-1234-567812345678")
    details = audit.safe_details(
        {"force": True, "job_id": 42, "score": 0.5, "at": when, "document": document, "tags": ("a", "b"),
         "max_tokens": 512, "nothing": None, "ratio": float("inf")}
    )  # fmt: skip
    assert details == {
        "force": True,
        "job_id": 42,
        "score": 0.5,
        "at": "2026-01-02T03:04:05+00:00",
        "document": str(document),
        "tags": ["a", "b"],
        "max_tokens": 512,  # a count of tokens, not a token
        "nothing": None,
        "ratio": "inf",
    }
    assert json.loads(json.dumps(details)) == details
    assert len(audit.safe_details({"long": "x" * 5000})["long"]) == 1000


async def test_a_principal_name_with_personal_data_is_redacted(app: FastAPI, session: AsyncSession) -> None:
    issued = await create_key(session, name="laptop of bob@example.org", role=Role.admin)
    async with api_client(app, issued.secret) as bob:
        assert (await bob.post("/api/knowledge/categories", json={"name": "faq"})).status_code == 201
    (entry,) = await entries(session, "category.")
    assert entry.details == {"actor_name": "laptop of [EMAIL]"}
    assert entry.actor == f"key:{issued.id}"
    count = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert count == 1
