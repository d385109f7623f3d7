"""Cached keys, users and personas follow changes made by another process, as soon as they commit.

The served app caches for five minutes here, so only the announcement through PostgreSQL (not the
cache's lifetime) can make it see a key revoked, a user disabled or a persona changed by another
process: the command line, another replica, or this test's own committed transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.auth.keys import create_key, revoke_key
from purpose_agent.auth.models import ApiKey, User
from purpose_agent.auth.principal import Role
from purpose_agent.auth.users import create_user, update_user
from purpose_agent.personas.commands import update_persona
from purpose_agent.personas.models import Persona
from purpose_agent.personas.schemas import PersonaUpdate
from purpose_agent.settings import Settings
from tests.chat.conftest import fake_provider
from tests.live_server import LiveServer
from tests.llm.fake_upstream import FakeUpstream

PERSONA = "cache-gateway"
PASSWORD = "a long enough pass phrase"
CACHE_SECONDS = 300.0


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
async def committed(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[tuple[str, str, str]]:
    """A key (its secret and prefix), a user, and a persona with retrieval off, all committed."""
    username = f"cache-{uuid.uuid4().hex[:8]}"
    async with sessionmaker() as session, session.begin():
        issued = await create_key(session, name="cache test", role=Role.user)
        user = await create_user(session, username=username, password=PASSWORD, role=Role.user)
        session.add(
            Persona(
                id=PERSONA, name="Gateway", retrieval=False, instructions="Answer in French.", max_tokens=50
            )
        )
    try:
        yield issued.secret, issued.prefix, username
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(ApiKey).where(ApiKey.id == issued.id))
            await session.execute(delete(User).where(User.id == user.id))
            await session.execute(delete(Persona).where(Persona.id == PERSONA))


@pytest.fixture
def server(
    settings: Settings, openai_fake: FakeUpstream, committed: tuple[str, str, str]
) -> Iterator[LiveServer]:
    served = settings.changed(
        auth_cache_seconds=CACHE_SECONDS,
        persona_cache_seconds=CACHE_SECONDS,
        rate_limit_enabled=False,
        llm_chain="openai",
        llm_providers={"openai": fake_provider(f"{openai_fake.base_url}/v1", "gpt-4o")},
    )
    live = LiveServer(served).start()
    try:
        yield live
    finally:
        live.stop()


async def eventually(check: Callable[[], Awaitable[bool]], attempts: int = 100) -> bool:
    """Whether `check()` comes true within about ten seconds (the announcement's way through)."""
    for _ in range(attempts):
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_key_revoked_elsewhere_is_refused_although_it_was_cached(
    server: LiveServer, committed: tuple[str, str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    secret, prefix, _ = committed
    async with httpx.AsyncClient(base_url=server.base_url, headers={"X-API-Key": secret}) as client:
        assert (await client.get("/api/agents")).status_code == 200, "now cached"
        async with sessionmaker() as session, session.begin():
            assert await revoke_key(session, prefix, datetime.now(UTC)) is not None

        async def refused() -> bool:
            return (await client.get("/api/agents")).status_code == 401

        assert await eventually(refused)


async def test_a_user_disabled_elsewhere_loses_access_although_cached(
    server: LiveServer, committed: tuple[str, str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, _, username = committed
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        signed_in = await client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
        token = signed_in.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/agents", headers=headers)).status_code == 200, "now cached"
        async with sessionmaker() as session, session.begin():
            user = await session.scalar(select(User).where(User.username == username))
            assert user is not None
            await update_user(session, user.id, disabled=True)

        async def refused() -> bool:
            return (await client.get("/api/agents", headers=headers)).status_code == 401

        assert await eventually(refused)


async def test_a_persona_changed_elsewhere_answers_with_its_new_style(
    server: LiveServer,
    committed: tuple[str, str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    openai_fake: FakeUpstream,
) -> None:
    secret, _, _ = committed
    body = {"model": PERSONA, "messages": [{"role": "user", "content": "Hello"}]}
    async with httpx.AsyncClient(base_url=server.base_url, headers={"X-API-Key": secret}) as client:
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
        assert openai_fake.requests[-1].body["messages"][0]["content"] == "Answer in French."
        async with sessionmaker() as session, session.begin():
            await update_persona(
                session,
                PERSONA,
                PersonaUpdate(name="Gateway", retrieval=False, instructions="Answer in Welsh."),
            )

        async def restyled() -> bool:
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
            return bool(openai_fake.requests[-1].body["messages"][0]["content"] == "Answer in Welsh.")

        assert await eventually(restyled)
