"""Sign-in attempts counted in moving windows, each counted (or refused) in one atomic step.

An attempt is one entry, named by a random id, in every bucket it belongs to (its username's, its
address's). `admit` checks every bucket and adds the entry to all of them, or to none, in one step
that nothing can interleave with: a Lua script on Redis (which runs scripts one at a time, for every
process and replica), a method without an `await` in memory (one event loop per process). So however
many sign-ins arrive at once, no more than a bucket's limit get past it in any window. `release`
takes an entry back out: the sign-in succeeded, and only failed ones should keep counting.

    RedisAttemptWindows    one sorted set per bucket (score: Redis's own clock, in milliseconds)
    MemoryAttemptWindows   one deque per bucket, in this process only
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Bucket:
    """At most `limit` attempts within any `window_seconds` under `key`."""

    key: str
    limit: int
    window_seconds: float


# KEYS: the buckets. ARGV[1]: the attempt's id; then each bucket's limit and window in milliseconds.
# Returns 0 when the attempt was added to every bucket, else the milliseconds until one would fit.
# TIME is Redis's clock, the same for every replica; Redis 5 and later replicate a script by its effects.
ADMIT_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local freeing = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(freeing[2]) + window - now, 1)
  end
end
if wait > 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i + 1]))
end
return 0
"""


class RedisAttemptWindows:
    """The buckets in Redis, shared by every process that uses the same keys."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._admit = redis.register_script(ADMIT_SCRIPT)

    async def admit(self, buckets: Sequence[Bucket], attempt: str) -> float | None:
        """None when the attempt was counted in every bucket; else seconds until it would be."""
        arguments: list[str | int] = [attempt]
        for bucket in buckets:
            arguments += [bucket.limit, math.ceil(bucket.window_seconds * 1000)]
        wait_ms = int(await self._admit(keys=[bucket.key for bucket in buckets], args=arguments))
        return None if wait_ms == 0 else wait_ms / 1000

    async def release(self, buckets: Sequence[Bucket], attempt: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipeline:
            for bucket in buckets:
                pipeline.zrem(bucket.key, attempt)
            await pipeline.execute()


class MemoryAttemptWindows:
    """The buckets in this process's memory; empty buckets are dropped as they are met."""

    # Every so many admissions, buckets that nobody touched for a whole window are swept away, so a
    # stream of guesses at ever new usernames costs memory for one window's worth of them only.
    SWEEP_EVERY = 1024

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, deque[tuple[float, str]]] = {}
        self._windows: dict[str, float] = {}
        self._admitted = 0

    def __len__(self) -> int:
        """How many buckets hold entries."""
        return len(self._entries)

    def admit(self, buckets: Sequence[Bucket], attempt: str) -> float | None:
        """As `RedisAttemptWindows.admit`; no `await` inside, so atomic on the event loop."""
        now = self._clock()
        wait = 0.0
        for bucket in buckets:
            entries = self._live(bucket.key, now, bucket.window_seconds)
            if len(entries) >= bucket.limit:
                freeing_at = entries[len(entries) - bucket.limit][0]
                wait = max(wait, freeing_at + bucket.window_seconds - now, 0.001)
        if wait > 0:
            return wait
        for bucket in buckets:
            self._entries.setdefault(bucket.key, deque()).append((now, attempt))
            self._windows[bucket.key] = bucket.window_seconds
        self._admitted += 1
        if self._admitted % self.SWEEP_EVERY == 0:
            self._sweep(now)
        return None

    def release(self, buckets: Sequence[Bucket], attempt: str) -> None:
        for bucket in buckets:
            entries = self._entries.get(bucket.key)
            if entries is None:
                continue
            kept = deque(entry for entry in entries if entry[1] != attempt)
            if kept:
                self._entries[bucket.key] = kept
            else:
                self._drop(bucket.key)

    def _live(self, key: str, now: float, window: float) -> deque[tuple[float, str]]:
        entries = self._entries.get(key, deque())
        while entries and entries[0][0] <= now - window:
            entries.popleft()
        if not entries:
            self._drop(key)
        return entries

    def _sweep(self, now: float) -> None:
        for key in list(self._entries):
            self._live(key, now, self._windows[key])

    def _drop(self, key: str) -> None:
        self._entries.pop(key, None)
        self._windows.pop(key, None)
