"""Rate limits shared by every process through Redis, with an in-memory fallback when it fails.

The strategy is the `limits` library's moving window: each admitted hit is a timestamp in one Redis
list per key, and one Lua script checks and appends atomically (the n-th newest entry must be older
than the window). Redis runs scripts one at a time, so however many processes and replicas share
it, n + 1 admitted hits of one key always span more than the window: at most n per window, exactly.
The fixed window admits up to 2n around a window's edge, and the sliding window counter weighs the
previous window's count as if its hits were spread evenly, which can admit more than n in a real
window; both cost less memory (one counter instead of n timestamps), which does not matter at the
limits an API sets. The timestamps come from the callers' clocks: replicas need synchronised clocks
(NTP); a skew of s seconds shortens the window by at most s for the process that is ahead.

With no Redis configured, limits live in this process's memory (the app logs a warning at start).
When Redis fails during a request (refused, timed out, any Redis error), the limiter either holds
the limits in memory for a while (`FailureMode.memory`, per process: n per process instead of n in
all) or refuses the request with a 503 problem (`FailureMode.refuse`), and logs it once per outage.
It tries Redis again after `retry_redis_after` seconds; readiness pings it too, so recovery shows
at the next probe. Hits made during the outage are not carried back to Redis. Either way a Redis
failure never becomes a 500.

Other code takes its own limits through the same object (the application context's `rate_limiter`):

    decision = await limiter.hit("5/minute", "login", "username", name)
    if not decision.allowed: ...  # decision.retry_after seconds

`peek` answers the same question without consuming a hit.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from purpose_agent.kit.problems import ServiceUnavailable

log = structlog.get_logger("purpose_agent.rate_limit")

# What a Redis that is down, slow or confused raises through `limits` and redis-py.
_STORAGE_ERRORS = (RedisError, StorageError, OSError, TimeoutError)


class FailureMode(StrEnum):
    """What the limiter does while Redis fails: keep limits in memory, or refuse limited requests."""

    memory = "memory"
    refuse = "refuse"


class LimiterState(StrEnum):
    """Where the limits are kept right now."""

    shared = "shared"  # on Redis, shared by every process
    local = "local"  # in memory by configuration: no Redis
    fallback = "fallback"  # in memory because Redis failed
    refusing = "refusing"  # Redis failed and the mode is refuse


class RateLimiterUnavailable(ServiceUnavailable):
    """Redis is down and the failure mode is refuse: the request cannot be checked, so it is refused."""

    title = "Rate limiter unavailable"
    slug = "rate-limiter-unavailable"


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """The limits of a string such as `20/minute` or `10/second; 300/hour`; ValueError when invalid."""
    try:
        items = tuple(parse_many(text))
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit such as 20/minute or 300 per hour") from None
    if not items or any(item.amount < 1 for item in items):
        raise ValueError(f"{text!r} must admit at least one hit per window")
    return items


@functools.lru_cache(maxsize=256)
def parse_limit(text: str) -> RateLimitItem:
    """The one limit of a string such as `5/minute`; ValueError when it is invalid or holds several."""
    items = parse_limits(text)
    if len(items) != 1:
        raise ValueError(f"{text!r} holds {len(items)} limits; give one")
    return items[0]


def describe(item: RateLimitItem) -> str:
    """A limit as people read it: `20 per 1 minute`."""
    return str(item)


@dataclass(frozen=True)
class Decision:
    """The answer for one hit: admitted or not, and what is left of the limit."""

    allowed: bool
    limit: RateLimitItem
    remaining: int
    # Seconds until the oldest hit in the window leaves it, freeing one more.
    reset_after: float

    @property
    def retry_after(self) -> int:
        """Whole seconds to wait before the next hit can pass (at least 1), for `Retry-After`."""
        return max(1, math.ceil(self.reset_after))


@dataclass(frozen=True)
class LimiterHealth:
    """The limiter's state for readiness, with a detail for operators."""

    state: LimiterState
    detail: str


def _key_part(part: str) -> str:
    # `limits` joins key parts with "/": escape it so ("a/b",) and ("a", "b") stay apart.
    return part.replace("%", "%25").replace("/", "%2F")


def _redis_pool(url: str, timeout: float) -> ConnectionPool:
    # No retries: redis-py's default (10, with backoff) would hold every request for seconds while
    # Redis is down; one failure is enough to switch to the fallback.
    return ConnectionPool.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def _limits_uri(url: str) -> str:
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url


class RateLimiter:
    """Moving-window limits on Redis (or in memory), with the failure policy described above."""

    def __init__(
        self,
        *,
        redis_url: str,
        key_prefix: str,
        on_redis_failure: FailureMode = FailureMode.memory,
        redis_timeout: float = 0.5,
        retry_redis_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # No I/O here: the pool connects on first use.
        self._pool = _redis_pool(redis_url, redis_timeout) if redis_url else None
        self._redis: MovingWindowRateLimiter | None = None
        if self._pool is not None:
            options: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                _limits_uri(redis_url), implementation="redispy", key_prefix=key_prefix, **options
            )
            self._redis = MovingWindowRateLimiter(storage)
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self.on_redis_failure = FailureMode(on_redis_failure)
        self.retry_redis_after = retry_redis_after
        self._clock = clock
        self._failed_at: float | None = None
        self._failure = ""

    @property
    def shared(self) -> bool:
        """Whether limits are kept in Redis (when it answers), and so hold across processes."""
        return self._redis is not None

    def health(self) -> LimiterHealth:
        """Where the limits are kept right now, from state only."""
        if self._redis is None:
            return LimiterHealth(
                LimiterState.local, "in memory: limits hold per process (no Redis configured)"
            )
        if self._failed_at is None:
            return LimiterHealth(LimiterState.shared, "on Redis, shared by every process")
        if self.on_redis_failure is FailureMode.refuse:
            return LimiterHealth(
                LimiterState.refusing, f"Redis failed ({self._failure}); limited requests get 503"
            )
        return LimiterHealth(
            LimiterState.fallback, f"Redis failed ({self._failure}); limits held in memory, per process"
        )

    async def probe(self) -> LimiterHealth:
        """Ping Redis (when configured), switching to or from the fallback on the answer; then `health()`."""
        if self._redis is not None:
            if await self._redis.storage.check():
                self._recovered()
            else:
                self._failed("no answer to PING")
        return self.health()

    async def hit(self, limit: str | RateLimitItem, *key_parts: str) -> Decision:
        """Count one hit of `limit` for the key made of `key_parts`; refused hits are not counted.

        Raises `RateLimiterUnavailable` when Redis is down and the failure mode is refuse.
        """
        return await self._decide(limit, key_parts, consume=True)

    async def peek(self, limit: str | RateLimitItem, *key_parts: str) -> Decision:
        """Whether a hit would pass now, without counting one."""
        return await self._decide(limit, key_parts, consume=False)

    async def aclose(self) -> None:
        """Close the Redis connections."""
        if self._pool is not None:
            await self._pool.aclose()

    async def _decide(
        self, limit: str | RateLimitItem, key_parts: tuple[str, ...], *, consume: bool
    ) -> Decision:
        item = parse_limit(limit) if isinstance(limit, str) else limit
        identifiers = tuple(_key_part(part) for part in key_parts)
        if self._redis is not None:
            if self._redis_due():
                try:
                    decision = await _decision(self._redis, item, identifiers, consume=consume)
                except _STORAGE_ERRORS as exc:
                    self._failed(type(exc).__name__)
                else:
                    self._recovered()
                    return decision
            if self.on_redis_failure is FailureMode.refuse:
                error = RateLimiterUnavailable("Rate limits cannot be checked right now; try again shortly.")
                error.headers["Retry-After"] = str(max(1, math.ceil(self.retry_redis_after)))
                raise error
        return await _decision(self._memory, item, identifiers, consume=consume)

    def _redis_due(self) -> bool:
        return self._failed_at is None or self._clock() - self._failed_at >= self.retry_redis_after

    def _failed(self, reason: str) -> None:
        if self._failed_at is None:
            log.warning(
                "rate_limit_redis_failed",
                error=reason,
                fallback=self.on_redis_failure.value,
                retry_after_seconds=self.retry_redis_after,
            )
        self._failed_at = self._clock()
        self._failure = reason

    def _recovered(self) -> None:
        if self._failed_at is not None:
            log.info("rate_limit_redis_recovered", after=self._failure)
            self._failed_at = None
            self._failure = ""


async def _decision(
    strategy: MovingWindowRateLimiter, item: RateLimitItem, identifiers: tuple[str, ...], *, consume: bool
) -> Decision:
    allowed = await (strategy.hit if consume else strategy.test)(item, *identifiers)
    stats = await strategy.get_window_stats(item, *identifiers)
    remaining = max(0, stats.remaining)
    # With nothing in the window the storages report its start as now or as a stale entry.
    reset_after = 0.0 if remaining == item.amount else max(0.0, stats.reset_time - time.time())
    return Decision(allowed=allowed, limit=item, remaining=remaining, reset_after=reset_after)
