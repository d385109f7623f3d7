"""Readiness checks: each dependency answers a cheap question, timed, within a deadline.

Readiness never calls a paid API: the checks touch only our own database and Redis. Every run sets
`purpose_agent_readiness_check` per check; a scrape runs them again when the last run is older than
`SCRAPE_MAX_AGE_SECONDS` (orchestrators usually probe every few seconds, so it seldom has to), and
reads the breakers' states for `purpose_agent_llm_breaker_state`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from purpose_agent.kit.metrics import READINESS_CHECK
from purpose_agent.kit.rate_limit import LimiterState, RateLimiter
from purpose_agent.llm.router import LLMRouter

SCRAPE_MAX_AGE_SECONDS = 15.0


class CheckStatus(StrEnum):
    ok = "ok"
    # Serving, on a fallback: visible in the body, not a reason to answer 503.
    degraded = "degraded"
    failed = "failed"
    skipped = "skipped"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: CheckStatus
    latency_ms: float | None = None
    detail: str | None = None


Probe = Callable[[], Awaitable[None]]

# The value of `purpose_agent_readiness_check` for each outcome; a skipped check is not reported.
GAUGE_VALUES = {CheckStatus.ok: 1.0, CheckStatus.degraded: 0.5, CheckStatus.failed: 0.0}


async def run_check(name: str, probe: Probe, timeout: float) -> CheckResult:
    """Run one probe; a timeout or any error is a failure whose detail names its kind, not its text."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout)
    except TimeoutError:
        return CheckResult(name, CheckStatus.failed, _elapsed_ms(started), f"no answer within {timeout}s")
    except Exception as exc:
        # The exception's class, not its message: messages can carry hosts and credentials.
        return CheckResult(
            name, CheckStatus.failed, _elapsed_ms(started), f"unreachable ({type(exc).__name__})"
        )
    return CheckResult(name, CheckStatus.ok, _elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def database_probe(engine: AsyncEngine) -> Probe:
    """Probe that runs `SELECT 1` on a pooled connection."""

    async def probe() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return probe


def redis_probe(redis: Redis) -> Probe:
    """Probe that sends PING."""

    async def probe() -> None:
        await redis.ping()

    return probe


_LIMITER_STATUS = {
    LimiterState.shared: CheckStatus.ok,
    LimiterState.local: CheckStatus.ok,
    LimiterState.fallback: CheckStatus.degraded,
    # Every limited request is refused with 503: this process cannot serve.
    LimiterState.refusing: CheckStatus.failed,
}


async def rate_limiter_check(limiter: RateLimiter, timeout: float) -> CheckResult:
    """Where the rate limits are kept: Redis (ok), memory by configuration (ok), or a fallback."""
    started = time.perf_counter()
    try:
        health = await asyncio.wait_for(limiter.probe(), timeout)
    except TimeoutError:
        health = limiter.health()
    return CheckResult("rate_limiter", _LIMITER_STATUS[health.state], _elapsed_ms(started), health.detail)


class ReadinessService:
    """The dependencies this process needs, checked side by side."""

    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis | None,
        timeout: float,
        router: LLMRouter,
        *,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.timeout = timeout
        self.router = router
        self.rate_limiter = rate_limiter
        self._checked_at: float | None = None

    async def providers(self) -> dict[str, dict[str, str | bool]]:
        """The LLM providers as configured, with their breakers; read from state, never by calling one."""
        return await self.router.status()

    async def check(self) -> list[CheckResult]:
        """Every check's result; Redis is `skipped` when none is configured."""
        checks = [run_check("database", database_probe(self.engine), self.timeout)]
        if self.redis is not None:
            checks.append(self._redis_check(self.redis))
        if self.rate_limiter is not None:
            checks.append(rate_limiter_check(self.rate_limiter, self.timeout))
        results = list(await asyncio.gather(*checks))
        if self.redis is None:
            results.append(CheckResult("redis", CheckStatus.skipped, detail="REDIS_URL is not set"))
        for result in results:
            if result.status in GAUGE_VALUES:
                READINESS_CHECK.labels(result.name).set(GAUGE_VALUES[result.status])
        self._checked_at = time.monotonic()
        return results

    async def refresh_metrics(self, max_age: float = SCRAPE_MAX_AGE_SECONDS) -> None:
        """Before a scrape: the checks again when their last run is older than `max_age` seconds, and
        the breakers' states (the router sets their gauge as it reads them)."""
        if self._checked_at is None or time.monotonic() - self._checked_at > max_age:
            await self.check()
        await self.router.status()

    async def _redis_check(self, redis: Redis) -> CheckResult:
        # This process still serves without Redis (breakers, limits and sign-in throttling fall back
        # to its own memory): degraded, not failed, so that an orchestrator does not take every
        # replica out of service at once because the shared Redis blinked.
        result = await run_check("redis", redis_probe(redis), self.timeout)
        if result.status is not CheckStatus.failed:
            return result
        detail = f"{result.detail}; breakers, rate limits and sign-in throttling use this process's memory"
        return CheckResult("redis", CheckStatus.degraded, result.latency_ms, detail)
