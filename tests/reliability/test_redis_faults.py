"""The app on REDIS_URL (breakers, rate limits, sign-in throttling) while that Redis fails for real: a
private redis-server stopped and started again mid-test, and a server that accepts and never answers.

Chat keeps answering (its provider is the local OpenAI fake), limits hold in this process's memory,
readiness says `degraded` with 200, and everything returns to Redis when it is back. Never a 500,
never a request held longer than the Redis timeouts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from httpx import AsyncClient

from purpose_agent.settings import ProviderSettings
from tests.conftest import Start, client_of
from tests.faulty_servers import PrivateRedis, black_hole
from tests.llm.fake_upstream import FakeUpstream
from tests.personas.factories import persona_body

AGENT = "plain-helper"
BREAKER_KEYS = "purpose-agent:breaker:openai:*"
ALL_OK = {"database": "ok", "redis": "ok", "rate_limiter": "ok"}
REDIS_DEGRADED = {"database": "ok", "redis": "degraded", "rate_limiter": "degraded"}


def _chat_settings(openai_fake: FakeUpstream, **changes: Any) -> dict[str, Any]:
    """OpenAI (the local fake) alone in the chain: every answer goes through its breaker."""
    provider = ProviderSettings(
        _env_file=None,
        api_key="sk-test-0001",
        base_url=f"{openai_fake.base_url}/v1",
        model="gpt-4o",
        max_retries=0,
        read_timeout_seconds=2,
        connect_timeout_seconds=1,
    )
    return {"llm_chain": "openai", "llm_providers": {"openai": provider}, **changes}


@asynccontextmanager
async def _serving(
    start: Start, admin_key: str, user_key: str, **settings: Any
) -> AsyncIterator[AsyncClient]:
    """The app with these settings and an agent without retrieval; a client of the user's."""
    async with (
        start(**settings) as app,
        client_of(app, key=admin_key) as admin,
        client_of(app, key=user_key) as user,
    ):
        body = persona_body(AGENT, retrieval=False, knowledge_category=None)
        created = await admin.post("/api/personas", json=body)
        assert created.status_code == 201, created.text
        yield user


async def _ask(client: AsyncClient) -> int:
    response = await client.post("/api/chat", json={"agent_id": AGENT, "question": "Say hello."})
    assert response.status_code in {200, 429}, response.text
    if response.status_code == 200:
        assert response.json()["model_used"] == "openai/gpt-4o"
    return response.status_code


async def _readiness(client: AsyncClient) -> tuple[int, str, dict[str, str]]:
    response = await client.get("/health/ready")
    body = response.json()
    checks = body.get("checks", {})
    statuses = {name: check["status"] for name, check in checks.items()}
    return response.status_code, body.get("status", ""), statuses


async def test_redis_stopped_mid_test_chat_answers_limits_hold_in_memory_and_all_returns_to_redis(
    start: Start, private_redis: PrivateRedis, openai_fake: FakeUpstream, admin_key: str, user_key: str
) -> None:
    private_redis.start()
    settings = _chat_settings(
        openai_fake,
        redis_url=private_redis.url,
        redis_timeout_seconds=0.5,
        rate_limit_chat="3/minute",
        rate_limit_redis_retry_seconds=0.2,
    )
    async with _serving(start, admin_key, user_key, **settings) as user:
        assert await _ask(user) == 200
        assert private_redis.keys(BREAKER_KEYS), "the breaker is kept in Redis"
        assert await _readiness(user) == (200, "ready", ALL_OK)

        private_redis.stop()
        # Redis counted one chat; memory starts afresh and holds the limit of 3 on its own.
        assert [await _ask(user) for _ in range(4)] == [200, 200, 200, 429]
        assert await _readiness(user) == (200, "degraded", REDIS_DEGRADED)

        private_redis.start()  # empty: what was counted in Redis before is gone
        await asyncio.sleep(0.3)  # past RATE_LIMIT_REDIS_RETRY_SECONDS, which the breakers wait too
        assert await _ask(user) == 200, "back on Redis, where this client has no hit yet"
        assert private_redis.keys(BREAKER_KEYS), "the breaker is kept in Redis again"
        assert await _readiness(user) == (200, "ready", ALL_OK)


async def test_a_redis_that_accepts_and_never_answers_costs_requests_one_bounded_wait(
    start: Start, openai_fake: FakeUpstream, admin_key: str, user_key: str
) -> None:
    async with black_hole() as silent:
        settings = _chat_settings(
            openai_fake,
            redis_url=f"redis://{silent}/0",
            redis_timeout_seconds=0.3,
            rate_limit_redis_timeout_seconds=0.3,
            readiness_timeout_seconds=1,
        )
        async with _serving(start, admin_key, user_key, **settings) as user:

            async def timed_chat() -> tuple[int, float]:
                started = time.perf_counter()
                return await _ask(user), time.perf_counter() - started

            # One after another: the test's requests share its one database transaction.
            chats = [await timed_chat() for _ in range(5)]
            assert [status for status, _ in chats] == [200] * 5
            seconds = [took for _, took in chats]
            assert max(seconds) < 1.5, seconds
            assert sum(seconds) < 2.5, "once Redis failed, the next requests do not wait for it again"

            started = time.perf_counter()
            assert await _readiness(user) == (200, "degraded", REDIS_DEGRADED)
            assert time.perf_counter() - started < 1.5
