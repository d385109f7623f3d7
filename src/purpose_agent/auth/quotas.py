"""Quotas per API key, counted where every replica sees them: Redis, or this process's memory when it fails.

Three counters per key: admitted requests per UTC day, tokens (prompt + completion) per UTC day, and
the estimated cost per UTC calendar month. Each lives under a name that holds its period
(`quota:{<key id>}:requests:2027-01-12`) and expires at the period's reset, so nothing is ever reset
by hand; the braces keep a key's counters in one Redis Cluster slot, for the script below.

A request is admitted by one Lua script, which Redis runs alone: refused while the key's cost, tokens
or requests are at their quota, else its request is counted. However many replicas share Redis,
they admit no more requests between them than the quota. Tokens and cost are known only once an
answer is given: they are added then (`charge`), so the request after the one that went over is the
one refused. Cost is counted in whole nano-dollars, so that increments stay exact integers.

When Redis fails (an error, or no answer within `timeout`), counting goes on in this process's
memory for `retry_after` seconds before Redis is tried again, as the rate limiter's memory fallback
does: per process while it lasts, and what was counted meanwhile is not carried back to Redis.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

import structlog
from cachetools import TLRUCache
from redis.asyncio import Redis

from purpose_agent.auth.errors import QuotaExceeded
from purpose_agent.auth.principal import Quotas
from purpose_agent.kit.store_fallback import StoreFallback

log = structlog.get_logger("purpose_agent.auth")

T = TypeVar("T")
NANO = 1_000_000_000
NO_LIMIT = -1
# Counters this process keeps while Redis fails: three per key in use.
MEMORY_COUNTERS = 100_000


class QuotaName(StrEnum):
    requests_per_day = "requests_per_day"
    tokens_per_day = "tokens_per_day"
    cost_per_month_usd = "cost_per_month_usd"


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """One quota of a key now: its limit (None: none), what its period used, and when it resets."""

    quota: QuotaName
    limit: float | None
    used: float
    reset: datetime


def next_day(now: datetime) -> datetime:
    """The start of the UTC day after `now`'s: when the daily quotas reset."""
    today = now.astimezone(UTC).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)


def next_month(now: datetime) -> datetime:
    """The start of the UTC month after `now`'s: when the monthly quota resets."""
    day = now.astimezone(UTC).date()
    first = date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
    return datetime.combine(first, datetime.min.time(), UTC)


@dataclass(frozen=True, slots=True)
class _Counter:
    name: str
    reset: datetime

    def ttl(self, now: datetime) -> int:
        """Seconds from `now` (the app's clock) to the reset: the counter expires then."""
        return max(1, math.ceil((self.reset - now).total_seconds()))


def _counters(prefix: str, key_id: uuid.UUID, now: datetime) -> tuple[_Counter, _Counter, _Counter]:
    """The key's cost, tokens and requests counters of the periods `now` is in."""
    utc = now.astimezone(UTC)
    day, month = utc.strftime("%Y-%m-%d"), utc.strftime("%Y-%m")
    base = f"{prefix}:{{{key_id}}}"
    return (
        _Counter(f"{base}:cost:{month}", next_month(now)),
        _Counter(f"{base}:tokens:{day}", next_day(now)),
        _Counter(f"{base}:requests:{day}", next_day(now)),
    )


# In the order of the counters: cost (nano-dollars), tokens, requests.
_NAMES = (QuotaName.cost_per_month_usd, QuotaName.tokens_per_day, QuotaName.requests_per_day)

# KEYS: cost, tokens, requests. ARGV: their limits (-1: none), then the requests counter's TTL.
# Returns {0, requests counted} when admitted, else {i, used} for the first counter at its limit.
ADMIT_SCRIPT = """
for i = 1, 3 do
  local limit = tonumber(ARGV[i])
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if limit >= 0 and used >= limit then return {i, used} end
end
local count = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {0, count}
"""


class Counters(Protocol):
    """Where the counters are kept: Redis or memory, the same operations on either."""

    async def admit(self, names: Sequence[str], limits: Sequence[int], ttl: int) -> tuple[int, int]: ...

    async def add(self, amounts: Sequence[tuple[str, int, int]]) -> None: ...

    async def read(self, names: Sequence[str]) -> list[int]: ...


class RedisCounters:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._admit = redis.register_script(ADMIT_SCRIPT)

    async def admit(self, names: Sequence[str], limits: Sequence[int], ttl: int) -> tuple[int, int]:
        refused, used = await self._admit(keys=list(names), args=[*limits, ttl])
        return int(refused), int(used)

    async def add(self, amounts: Sequence[tuple[str, int, int]]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for name, amount, ttl in amounts:
                pipe.incrby(name, amount)
                pipe.expire(name, ttl)
            await pipe.execute()

    async def read(self, names: Sequence[str]) -> list[int]:
        return [int(value or 0) for value in await self.redis.mget(list(names))]


class MemoryCounters:
    """The same counters in this process, each expiring at its reset; bounded in number."""

    def __init__(self, maxsize: int = MEMORY_COUNTERS) -> None:
        # name -> (count, expiry on the monotonic clock)
        self._counts: TLRUCache[str, tuple[int, float]] = TLRUCache(
            maxsize, ttu=lambda _key, value, _now: value[1], timer=time.monotonic
        )

    async def admit(self, names: Sequence[str], limits: Sequence[int], ttl: int) -> tuple[int, int]:
        for index, (name, limit) in enumerate(zip(names, limits, strict=True), 1):
            used = self._get(name)
            if limit >= 0 and used >= limit:
                return index, used
        return 0, self._add(names[-1], 1, ttl)

    async def add(self, amounts: Sequence[tuple[str, int, int]]) -> None:
        for name, amount, ttl in amounts:
            self._add(name, amount, ttl)

    async def read(self, names: Sequence[str]) -> list[int]:
        return [self._get(name) for name in names]

    def _get(self, name: str) -> int:
        found = self._counts.get(name)
        return found[0] if found else 0

    def _add(self, name: str, amount: int, ttl: int) -> int:
        count = self._get(name) + amount
        self._counts[name] = (count, time.monotonic() + ttl)
        return count


class QuotaLedger:
    """Admits a key's requests within its quotas and adds what its answers used, as described above."""

    def __init__(
        self,
        redis: Redis | None,
        *,
        prefix: str = "quota",
        timeout: float = 0.5,
        retry_after: float = 5.0,
    ) -> None:
        self.prefix = prefix
        self._counters: StoreFallback[Counters] = StoreFallback(
            RedisCounters(redis) if redis is not None else None,
            MemoryCounters(),
            timeout=timeout,
            retry_after=retry_after,
            event="quotas_in_memory",
            detail="Redis failed; this process counts the keys' quotas alone meanwhile",
        )

    @property
    def degraded(self) -> bool:
        """True while Redis is skipped after a failure."""
        return self._counters.degraded

    async def admit(self, key_id: uuid.UUID, quotas: Quotas, now: datetime) -> None:
        """Count one request of the key, or raise `QuotaExceeded` (uncounted) when a quota is used up."""
        counters = _counters(self.prefix, key_id, now)
        limits = (
            _nano(quotas.cost_per_month_usd),
            _whole(quotas.tokens_per_day),
            _whole(quotas.requests_per_day),
        )
        names = [counter.name for counter in counters]
        ttl = counters[2].ttl(now)
        refused, used = await self._either(lambda store: store.admit(names, limits, ttl))
        if refused:
            quota, counter = _NAMES[refused - 1], counters[refused - 1]
            limit = _limit_of(quotas, quota)
            assert limit is not None  # only a counter with a limit refuses
            raise QuotaExceeded(quota.value, limit, _shown(quota, used), counter.reset, now)

    async def charge(self, key_id: uuid.UUID, tokens: int, cost_usd: float, now: datetime) -> None:
        """Add the tokens and the cost of one answer of the key."""
        cost, tokens_counter, _ = _counters(self.prefix, key_id, now)
        amounts = [
            (counter.name, amount, counter.ttl(now))
            for counter, amount in ((tokens_counter, tokens), (cost, round(cost_usd * NANO)))
            if amount > 0
        ]
        if amounts:
            await self._either(lambda store: store.add(amounts))

    async def uses(self, key_id: uuid.UUID, quotas: Quotas, now: datetime) -> list[QuotaUse]:
        """Each quota of the key now: limit, use in its current period, reset (every kind, limited or not)."""
        counters = _counters(self.prefix, key_id, now)
        names = [counter.name for counter in counters]
        values = await self._either(lambda store: store.read(names))
        found = {
            quota: QuotaUse(quota, _limit_of(quotas, quota), _shown(quota, value), counter.reset)
            for quota, counter, value in zip(_NAMES, counters, values, strict=True)
        }
        return [found[quota] for quota in QuotaName]

    async def _either(self, call: Callable[[Counters], Awaitable[T]]) -> T:
        return await self._counters.call(call)


def _whole(limit: int | None) -> int:
    return NO_LIMIT if limit is None else limit


def _nano(limit_usd: float | None) -> int:
    return NO_LIMIT if limit_usd is None else round(limit_usd * NANO)


def _limit_of(quotas: Quotas, quota: QuotaName) -> float | None:
    limit: float | None = getattr(quotas, quota.value)
    return limit


def _shown(quota: QuotaName, used: int) -> float:
    """A counter's value as the API shows it: dollars for the cost, counts for the others."""
    return round(used / NANO, 9) if quota is QuotaName.cost_per_month_usd else used
