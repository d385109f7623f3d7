"""Circuit breakers, one per provider: stop calling a provider that keeps failing, probe it later.

    closed ──(N consecutive failures, or failure rate over a window with a minimum count,
              or credentials rejected)──▶ open ──(cooldown)──▶ half-open
    half-open: exactly one probe passes ──success──▶ closed
                                         └─failure──▶ open (cooldown starts again)

Two stores with the same four operations: `MemoryBreakers` for one process, `RedisBreakers` when
replicas must agree (the state lives in Redis; the half-open probe is claimed with SET NX, so one
probe passes across all replicas), and `FallbackBreakers`, which uses Redis while it answers and
this process's memory while it does not. Failure-rate windows are fixed buckets of `window_seconds`,
counted with atomic increments: no read-modify-write on the hot path.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar

import structlog
from redis.asyncio import Redis

from purpose_agent.kit.store_fallback import StoreFallback

log = structlog.get_logger("purpose_agent.llm")

T = TypeVar("T")


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5
    failure_rate: float = 0.5
    minimum_calls: int = 10
    window_seconds: float = 60.0
    cooldown_seconds: float = 30.0

    def trips(self, consecutive: int, calls: int, failures: int) -> bool:
        """Whether these counts open a closed breaker."""
        if consecutive >= self.failure_threshold:
            return True
        return calls >= self.minimum_calls and failures / calls >= self.failure_rate

    def bucket(self, now: float) -> int:
        """The failure-rate window `now` falls in."""
        return math.floor(now / self.window_seconds)


class BreakerStore(Protocol):
    async def acquire(self, name: str, now: float) -> bool:
        """May a call go to `name` now? In half-open, True for exactly one caller (the probe)."""
        ...

    async def record_success(self, name: str, now: float) -> None:
        """A call succeeded: reset the failure run; a successful probe closes the breaker."""
        ...

    async def record_failure(self, name: str, now: float, *, trip: bool = False) -> None:
        """A call failed: count it and open when the policy says so (at once when `trip`)."""
        ...

    async def state(self, name: str, now: float) -> BreakerState:
        """The state as `acquire` would see it."""
        ...


@dataclass
class _Local:
    open: bool = False
    opened_at: float = 0.0
    consecutive: int = 0
    probe_until: float = 0.0
    buckets: dict[int, tuple[int, int]] = field(default_factory=dict)


class MemoryBreakers:
    """Breakers held in this process."""

    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self._breakers: dict[str, _Local] = {}

    def _get(self, name: str) -> _Local:
        return self._breakers.setdefault(name, _Local())

    async def acquire(self, name: str, now: float) -> bool:
        breaker = self._get(name)
        if not breaker.open:
            return True
        if now < breaker.opened_at + self.policy.cooldown_seconds or now < breaker.probe_until:
            return False
        # The probe holds a lease of one cooldown: if it never reports back, another may probe.
        breaker.probe_until = now + self.policy.cooldown_seconds
        return True

    async def record_success(self, name: str, now: float) -> None:
        breaker = self._get(name)
        breaker.open, breaker.consecutive, breaker.probe_until = False, 0, 0.0
        self._count(breaker, now, failed=False)

    async def record_failure(self, name: str, now: float, *, trip: bool = False) -> None:
        breaker = self._get(name)
        breaker.consecutive += 1
        calls, failures = self._count(breaker, now, failed=True)
        if breaker.open or trip or self.policy.trips(breaker.consecutive, calls, failures):
            breaker.open, breaker.opened_at, breaker.probe_until = True, now, 0.0

    async def state(self, name: str, now: float) -> BreakerState:
        breaker = self._get(name)
        if not breaker.open:
            return BreakerState.closed
        if now < breaker.opened_at + self.policy.cooldown_seconds:
            return BreakerState.open
        return BreakerState.half_open

    def _count(self, breaker: _Local, now: float, *, failed: bool) -> tuple[int, int]:
        bucket = self.policy.bucket(now)
        calls, failures = breaker.buckets.get(bucket, (0, 0))
        counts = (calls + 1, failures + int(failed))
        breaker.buckets = {bucket: counts}
        return counts


class RedisBreakers:
    """Breakers shared by every replica through Redis."""

    def __init__(self, redis: Redis, policy: BreakerPolicy, prefix: str = "purpose-agent:breaker:") -> None:
        self.redis = redis
        self.policy = policy
        self.prefix = prefix

    def _key(self, name: str, part: str) -> str:
        return f"{self.prefix}{name}:{part}"

    async def _opened_at(self, name: str) -> float | None:
        raw = await self.redis.get(self._key(name, "opened_at"))
        return float(raw) if raw is not None else None

    async def acquire(self, name: str, now: float) -> bool:
        opened_at = await self._opened_at(name)
        if opened_at is None:
            return True
        if now < opened_at + self.policy.cooldown_seconds:
            return False
        lease_ms = max(1, int(self.policy.cooldown_seconds * 1000))
        claimed = await self.redis.set(self._key(name, "probe"), str(now), nx=True, px=lease_ms)
        return bool(claimed)

    async def record_success(self, name: str, now: float) -> None:
        calls = self._key(name, f"calls:{self.policy.bucket(now)}")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(
                self._key(name, "opened_at"), self._key(name, "probe"), self._key(name, "consecutive")
            )
            pipe.incr(calls)
            pipe.expire(calls, self._window_ttl())
            await pipe.execute()

    async def record_failure(self, name: str, now: float, *, trip: bool = False) -> None:
        bucket = self.policy.bucket(now)
        calls_key, failures_key = self._key(name, f"calls:{bucket}"), self._key(name, f"failures:{bucket}")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._key(name, "consecutive"))
            pipe.incr(calls_key)
            pipe.incr(failures_key)
            pipe.expire(calls_key, self._window_ttl())
            pipe.expire(failures_key, self._window_ttl())
            pipe.exists(self._key(name, "opened_at"))
            consecutive, calls, failures, _, _, already_open = await pipe.execute()
        if already_open or trip or self.policy.trips(int(consecutive), int(calls), int(failures)):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key(name, "opened_at"), repr(now))
                pipe.delete(self._key(name, "probe"))
                await pipe.execute()

    async def state(self, name: str, now: float) -> BreakerState:
        opened_at = await self._opened_at(name)
        if opened_at is None:
            return BreakerState.closed
        if now < opened_at + self.policy.cooldown_seconds:
            return BreakerState.open
        return BreakerState.half_open

    def _window_ttl(self) -> int:
        return max(1, math.ceil(self.policy.window_seconds * 2))


class FallbackBreakers:
    """Shared breakers while their store answers; this process's own while it does not.

    A Redis that is down, full or slow must not turn into failed answers: a call to the shared
    store that fails or takes longer than `timeout` is served by the in-memory breakers instead,
    and the shared store is left alone for `retry_after` seconds before it is tried again. Replicas
    then judge providers each on its own until Redis is back, which is the best they can do.
    """

    def __init__(
        self, shared: BreakerStore, local: BreakerStore, *, timeout: float = 0.5, retry_after: float = 5.0
    ) -> None:
        self.shared = shared
        self.local = local
        self._stores = StoreFallback(
            shared,
            local,
            timeout=timeout,
            retry_after=retry_after,
            event="breakers_in_memory",
            detail="the shared breaker store failed; this process judges providers alone meanwhile",
        )

    @property
    def degraded(self) -> bool:
        """True while the shared store is skipped."""
        return self._stores.degraded

    async def acquire(self, name: str, now: float) -> bool:
        return await self._either(lambda store: store.acquire(name, now))

    async def record_success(self, name: str, now: float) -> None:
        await self._either(lambda store: store.record_success(name, now))

    async def record_failure(self, name: str, now: float, *, trip: bool = False) -> None:
        await self._either(lambda store: store.record_failure(name, now, trip=trip))

    async def state(self, name: str, now: float) -> BreakerState:
        return await self._either(lambda store: store.state(name, now))

    async def _either(self, call: Callable[[BreakerStore], Awaitable[T]]) -> T:
        return await self._stores.call(call)
