"""JWT_SECRET rotated in the secrets provider while the app runs: new tokens carry the new key, tokens
signed with the previous one keep working, a token of a key nobody configured is a 401 problem.

The real app, refreshing its secrets every second from a real provider: a directory of files, and
a local server speaking Vault's KV v2 API read with the real hvac client.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.app import create_app
from purpose_agent.auth.principal import Role
from purpose_agent.auth.users import create_user
from purpose_agent.settings import ProviderSettings, Settings
from tests.app_context import context, swap_context
from tests.conftest import LogCapture, client_of
from tests.secrets.conftest import JWT_SECRET, VAULT_TOKEN
from tests.secrets.local_server import FakeVault

PASSWORD = "a long enough pass phrase"


@dataclass
class Provider:
    """A real secrets backend the test writes to, and the settings that choose it."""

    settings: dict[str, Any]
    put: Callable[[str], None]
    fail: Callable[[bool], None]
    fetches: Callable[[], int]


@pytest.fixture(params=["file", "vault"])
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> Provider:
    if request.param == "file":
        directory = tmp_path / "run-secrets"
        directory.mkdir()
        (directory / "JWT_SECRET").write_text(JWT_SECRET + "\n")
        hidden = tmp_path / "moved-away"

        def fail_files(failing: bool) -> None:
            (directory if failing else hidden).rename(hidden if failing else directory)

        def put_file(secret: str) -> None:
            (directory / "JWT_SECRET").write_text(secret + "\n")

        return Provider(
            settings={"secrets_provider": "file", "secrets_dir": str(directory)},
            put=put_file,
            fail=fail_files,
            fetches=lambda: -1,
        )
    return vault_provider(request.getfixturevalue("vault"))


def vault_provider(vault: FakeVault) -> Provider:
    def put(secret: str) -> None:
        vault.secrets[("secret", "purpose-agent")] = {"JWT_SECRET": secret}

    def fail(failing: bool) -> None:
        vault.down = failing

    return Provider(
        settings={"secrets_provider": "vault", "vault_addr": vault.url, "vault_token": VAULT_TOKEN},
        put=put,
        fail=fail,
        fetches=lambda: len(vault.requests),
    )


Serve = Callable[..., AbstractAsyncContextManager[FastAPI]]


@pytest.fixture
def serve(
    database_url: str,
    redis_url: str,
    engine: AsyncEngine,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    redis_prefix: str,
    logs: LogCapture,
) -> Serve:
    """The real app reading its secrets from `provider`, refreshed every `ttl` seconds."""

    @asynccontextmanager
    async def running(provider: Provider, ttl: float = 1.0) -> AsyncIterator[FastAPI]:
        settings = Settings(
            _env_file=None,
            database_url=database_url,
            redis_url=redis_url,
            rate_limit_key_prefix=redis_prefix,
            secrets_cache_ttl_seconds=ttl,
            llm_chain="local",
            llm_providers={"local": ProviderSettings(_env_file=None)},
            **provider.settings,
        )
        assert settings.provided_secrets == {"JWT_SECRET"}
        app = create_app(settings, engine=engine)
        async with LifespanManager(app):
            swap_context(app, sessionmaker=test_sessionmaker)
            yield app

    return running


@pytest.fixture
async def username(session: AsyncSession) -> str:
    user = await create_user(
        session, username=f"rotate-{uuid.uuid4().hex[:8]}", password=PASSWORD, role=Role.user
    )
    return user.username


async def sign_in(app: FastAPI, username: str) -> str:
    async with client_of(app) as client:
        response = await client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def status_with(app: FastAPI, token: str) -> int:
    async with client_of(app) as client:
        response = await client.get("/api/agents", headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 401:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "The credentials are invalid."
    return response.status_code


def kid(token: str) -> str:
    found: str = jwt.get_unverified_header(token)["kid"]
    return found


def rotated_in(app: FastAPI, token: str) -> Callable[[], Awaitable[bool]]:
    """Whether the app signs with another key than `token`'s now."""

    async def check() -> bool:
        return context(app).tokens.current_kid != kid(token)

    return check


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 8.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


def signed(secret: str, headers: dict[str, str] | None = None) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "user:nobody",
        "role": "admin",
        "iss": "purpose-agent",
        "aud": "purpose-agent",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
    }
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers)


async def test_a_rotated_secret_signs_new_tokens_and_the_old_tokens_still_verify(
    provider: Provider, serve: Serve, username: str, logs: LogCapture
) -> None:
    rotated = secrets.token_urlsafe(48)
    async with serve(provider) as app:
        before = await sign_in(app, username)
        provider.put(rotated)

        assert await eventually(rotated_in(app, before)), "the new secret was fetched without a restart"
        after = await sign_in(app, username)
        assert kid(after) != kid(before)
        assert await status_with(app, after) == 200
        assert await status_with(app, before) == 200, "tokens of the previous key verify until they expire"

        unknown = secrets.token_urlsafe(48)
        assert await status_with(app, signed(unknown)) == 401
        assert await status_with(app, signed(unknown, {"kid": kid(after)})) == 401
        assert await status_with(app, signed(unknown, {"kid": "never-seen-kid"})) == 401

    events = [record["event"] for record in logs.records()]
    assert events.count("token_signing_key_rotated") == 1
    assert "secrets_changed" in events
    assert rotated not in logs.text, "names are logged, never values"
    assert JWT_SECRET not in logs.text


async def test_a_failed_refresh_keeps_the_last_key_and_the_next_one_rotates_it(
    provider: Provider, serve: Serve, username: str, logs: LogCapture
) -> None:
    async with serve(provider) as app:
        before = await sign_in(app, username)
        provider.fail(True)

        async def refresh_failed() -> bool:
            return any(record["event"] == "secrets_refresh_failed" for record in logs.records())

        assert await eventually(refresh_failed)
        during = await sign_in(app, username)
        assert kid(during) == kid(before), "signing goes on with the last key fetched"
        assert await status_with(app, during) == 200

        provider.fail(False)
        provider.put(secrets.token_urlsafe(48))

        assert await eventually(rotated_in(app, before))
        assert kid(await sign_in(app, username)) != kid(before)
        assert await status_with(app, before) == 200

    [failure, *_] = [record for record in logs.records() if record["event"] == "secrets_refresh_failed"]
    assert failure["error"].startswith(f"secrets provider {provider.settings['secrets_provider']}: ")
    assert any(record["event"] == "secrets_refresh_recovered" for record in logs.records())


async def test_a_replica_that_has_not_fetched_the_new_key_yet_fetches_it_for_a_token_that_names_it(
    vault: FakeVault, serve: Serve, username: str
) -> None:
    provider = vault_provider(vault)
    async with serve(provider, ttl=3600.0) as second:
        before = await sign_in(second, username)
        provider.put(secrets.token_urlsafe(48))
        async with serve(provider, ttl=1.0) as first:
            assert await eventually(rotated_in(first, before))
            from_first = await sign_in(first, username)
        fetched = provider.fetches()
        assert await status_with(second, from_first) == 200, "fetched on meeting the new key's id"
        assert provider.fetches() == fetched + 1
        assert kid(await sign_in(second, username)) == kid(from_first), "and signs with it from then on"

        made_up = signed(secrets.token_urlsafe(48), {"kid": "made-up"})
        assert await status_with(second, made_up) == 401
        assert provider.fetches() == fetched + 1, "a fetch at most every few seconds, whatever is sent"
