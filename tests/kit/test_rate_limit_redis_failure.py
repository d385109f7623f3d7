"""When the limiter's Redis fails: limits kept in memory (or requests refused), visible in readiness.

Never a 500. The failures are real: a port where nothing listens, a server that accepts and never
answers, and a private redis-server that is stopped and started again.
"""

from __future__ import annotations

import asyncio
import time

from purpose_agent.kit.rate_limit import FailureMode
from tests.conftest import LogCapture, Start, client_of
from tests.faulty_servers import PrivateRedis, black_hole
from tests.kit.conftest import CHEAP_ROUTE, assert_refused
from tests.ports import free_port


async def test_when_redis_fails_limits_hold_in_memory_and_readiness_shows_it_degraded(
    start: Start, logs: LogCapture
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with (
        start(
            rate_limit_redis_url=dead, rate_limit_per_ip="3/minute", rate_limit_redis_retry_seconds=60
        ) as app,
        client_of(app) as client,
    ):
        assert [(await client.get(CHEAP_ROUTE)).status_code for _ in range(3)] == [401, 401, 401]
        assert_refused(await client.get(CHEAP_ROUTE), "3 per 1 minute per IP address")

        ready = await client.get("/health/ready")
        assert ready.status_code == 200, "serving on the fallback is degraded, not unready"
        body = ready.json()
        assert body["checks"]["rate_limiter"]["status"] == "degraded"
        assert "in memory" in body["checks"]["rate_limiter"]["detail"]
        assert body["degraded"] == ["rate_limiter"]
        assert body["checks"]["redis"]["status"] == "ok", "the app's own Redis is another one"

    failures = [record for record in logs.records() if record["event"] == "rate_limit_redis_failed"]
    assert len(failures) == 1, "logged once per outage"
    assert failures[0]["fallback"] == "memory"


async def test_a_redis_that_never_answers_costs_one_timeout_then_nothing(start: Start) -> None:
    async with (
        black_hole() as silent,
        start(
            rate_limit_redis_url=f"redis://{silent}/0",
            rate_limit_redis_timeout_seconds=0.2,
            rate_limit_redis_retry_seconds=60,
        ) as app,
        client_of(app) as client,
    ):
        started = time.perf_counter()
        assert (await client.get(CHEAP_ROUTE)).status_code == 401
        assert 0.2 <= time.perf_counter() - started < 2
        started = time.perf_counter()
        assert (await client.get(CHEAP_ROUTE)).status_code == 401
        assert time.perf_counter() - started < 0.2, "on the fallback, Redis is not waited for again"
        check = (await client.get("/health/ready")).json()["checks"]["rate_limiter"]
        assert check["status"] == "degraded"


async def test_when_redis_fails_and_the_mode_is_refuse_limited_requests_get_503(start: Start) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with (
        start(rate_limit_redis_url=dead, rate_limit_on_redis_failure=FailureMode.refuse) as app,
        client_of(app) as client,
    ):
        refused = await client.get(CHEAP_ROUTE)
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/rate-limiter-unavailable"
        assert int(refused.headers["retry-after"]) >= 1

        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["rate_limiter"]


async def test_the_limiter_returns_to_redis_when_it_is_back(
    start: Start, private_redis: PrivateRedis, logs: LogCapture
) -> None:
    private_redis.start()
    async with (
        start(rate_limit_redis_url=private_redis.url, rate_limit_redis_retry_seconds=0.2) as app,
        client_of(app) as client,
    ):

        async def limiter_status() -> str:
            status: str = (await client.get("/health/ready")).json()["checks"]["rate_limiter"]["status"]
            return status

        assert (await client.get(CHEAP_ROUTE)).status_code == 401
        assert await limiter_status() == "ok"

        private_redis.stop()
        assert (await client.get(CHEAP_ROUTE)).status_code == 401, "never a 500"
        assert await limiter_status() == "degraded"

        private_redis.start()
        await asyncio.sleep(0.3)
        assert (await client.get(CHEAP_ROUTE)).status_code == 401
        assert await limiter_status() == "ok"

    events = [record["event"] for record in logs.records()]
    assert events.count("rate_limit_redis_failed") == 1
    assert events.count("rate_limit_redis_recovered") == 1


async def test_without_redis_limits_hold_in_this_process_with_a_warning(
    start: Start, logs: LogCapture
) -> None:
    async with start(redis_url="", rate_limit_per_ip="2/minute") as app, client_of(app) as client:
        assert [(await client.get(CHEAP_ROUTE)).status_code for _ in range(3)] == [401, 401, 429]
        check = (await client.get("/health/ready")).json()["checks"]["rate_limiter"]
        assert check["status"] == "ok"
        assert "per process" in check["detail"]
    assert any(record["event"] == "rate_limits_in_memory" for record in logs.records())
