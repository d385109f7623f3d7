"""Sign-in attempts are counted before the password is checked, atomically, in Redis when it answers.

Guesses sent at once over real connections: no more than the limit reach the password check (counted
by `purpose_agent_auth_failures_total{kind="login_failed"}`, which only a checked, wrong password
raises), every other gets a 429 problem with Retry-After. A private redis-server stopped and started
again: two app instances count apart meanwhile, and together again once it is back.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.auth.models import User
from purpose_agent.auth.principal import Role
from purpose_agent.auth.users import create_user
from purpose_agent.settings import Settings
from tests.conftest import LogCapture, Start, client_of
from tests.faulty_servers import PrivateRedis
from tests.live_server import LiveServer

PASSWORD = "a long enough pass phrase"
WRONG = "not the pass phrase at all"
LIMIT = 5
GUESSES = 20


@pytest.fixture
async def committed_user(engine: AsyncEngine) -> AsyncIterator[str]:
    """A user committed for a served app, which reads the database apart from the test's transaction."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    username = f"throttle-{uuid.uuid4().hex[:8]}"
    async with sessionmaker() as session, session.begin():
        user = await create_user(session, username=username, password=PASSWORD, role=Role.user)
    try:
        yield username
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(User).where(User.id == user.id))


@pytest.fixture(params=["redis", "memory"])
def served(settings: Settings, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The app served on real connections, counting attempts in Redis or (without one) in memory."""
    configured = settings.changed(
        redis_url=settings.redis.url if request.param == "redis" else "",
        # Counted apart from every other test's sign-ins from 127.0.0.1 in the shared Redis.
        rate_limit_key_prefix=f"test:{uuid.uuid4().hex}:rate-limit",
        rate_limit_enabled=False,
        login_failures_per_username=f"{LIMIT}/15minutes",
    )
    server = LiveServer(configured).start()
    try:
        yield server
    finally:
        server.stop()


async def passwords_checked(client: httpx.AsyncClient) -> float:
    """Wrong passwords checked so far, from the served app's metrics (loopback may read them)."""
    text = (await client.get("/metrics")).text
    found = re.search(r'^purpose_agent_auth_failures_total\{kind="login_failed"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_guesses_sent_at_once_get_no_more_than_the_limit_to_the_password_check(
    served: LiveServer, committed_user: str
) -> None:
    limits = httpx.Limits(max_connections=GUESSES, max_keepalive_connections=GUESSES)
    async with httpx.AsyncClient(base_url=served.base_url, limits=limits, timeout=30) as client:
        before = await passwords_checked(client)
        body = {"username": committed_user, "password": WRONG}
        responses = await asyncio.gather(*(client.post("/api/auth/token", json=body) for _ in range(GUESSES)))
        checked = await passwords_checked(client) - before

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [401] * LIMIT + [429] * (GUESSES - LIMIT)
    assert checked == LIMIT, "only the admitted guesses reached the password check"
    for refused in (response for response in responses if response.status_code == 429):
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/login-throttled"
        assert 1 <= int(refused.headers["retry-after"]) <= 15 * 60


async def test_a_successful_sign_in_does_not_count_against_the_user(
    start: Start, session: AsyncSession
) -> None:
    user = await create_user(
        session, username=f"typo-{uuid.uuid4().hex[:8]}", password=PASSWORD, role=Role.user
    )
    async with start(login_failures_per_username="3/15minutes") as app:
        sequence = [WRONG, PASSWORD, PASSWORD, PASSWORD, PASSWORD, WRONG, PASSWORD, WRONG, PASSWORD]
        statuses = [await sign_in(app, user.username, password) for password in sequence]
    assert statuses == [401, 200, 200, 200, 200, 401, 200, 401, 429], "the third failure closes it"


async def sign_in(app: FastAPI, username: str, password: str, address: str = "198.51.100.9") -> int:
    async with client_of(app, address) as client:
        response = await client.post("/api/auth/token", json={"username": username, "password": password})
    return response.status_code


async def test_attempts_move_to_memory_while_redis_is_down_and_back_to_it_when_it_returns(
    start: Start, tmp_path_factory: pytest.TempPathFactory, logs: LogCapture
) -> None:
    redis = PrivateRedis(tmp_path_factory.mktemp("redis"))
    redis.start()
    shared = {
        "redis_url": redis.url,
        "rate_limit_enabled": False,
        "login_failures_per_username": "3/15minutes",
        "redis_timeout_seconds": 0.5,
        "rate_limit_redis_retry_seconds": 0.2,
    }
    try:
        async with start(**shared) as first, start(**shared) as second:

            async def counted_together() -> list[int]:
                """Two failures on one instance, one on the other: the fourth is refused on either."""
                username = f"guess-{uuid.uuid4().hex[:8]}"
                return [
                    await sign_in(first, username, WRONG),
                    await sign_in(first, username, WRONG),
                    await sign_in(second, username, WRONG),
                    await sign_in(second, username, WRONG),
                    await sign_in(first, username, WRONG),
                ]

            assert await counted_together() == [401, 401, 401, 429, 429]

            redis.stop()
            username = f"guess-{uuid.uuid4().hex[:8]}"
            on_first = [await sign_in(first, username, WRONG) for _ in range(4)]
            assert on_first == [401, 401, 401, 429], "counted in the first instance's memory"
            assert await sign_in(second, username, WRONG) == 401, "which the second does not share"

            redis.start()
            await asyncio.sleep(0.3)  # past the retry interval
            assert await counted_together() == [401, 401, 401, 429, 429]
    finally:
        redis.stop()

    events = [record["event"] for record in logs.records()]
    assert events.count("login_throttle_degraded") == 2, "once per instance and outage"
    assert events.count("login_throttle_recovered") == 2
