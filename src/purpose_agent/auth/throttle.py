"""Failed sign-ins counted per username and per client address, in Redis when there is one.

A moving window (the `limits` library) over the failures only: a user who types the right
password is never slowed down by their own earlier typos beyond the limit, and an attacker
guessing one account's password, or many accounts' from one address, is stopped either way.
When Redis fails, the count continues in this process's memory rather than letting guesses through.
"""

from __future__ import annotations

import math
import time
from typing import Any

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

log = structlog.get_logger("purpose_agent.auth")


class LoginThrottle:
    def __init__(
        self, redis: Redis | None, per_username: str, per_address: str, prefix: str = "login"
    ) -> None:
        self.per_username: RateLimitItem = parse(per_username)
        self.per_address: RateLimitItem = parse(per_address)
        self.prefix = prefix
        # On the app's own Redis connections (closed with them), or in memory without Redis.
        shared: dict[str, Any] = {"connection_pool": redis.connection_pool} if redis is not None else {}
        storage: Storage = (
            RedisStorage("async+redis://", implementation="redispy", **shared) if shared else MemoryStorage()
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._fallback: MovingWindowRateLimiter | None = None

    async def retry_after(self, username: str, address: str) -> int | None:
        """Seconds until another attempt is allowed, or None when one is allowed now."""
        waits = []
        for item, key in self._buckets(username, address):
            if not await self._call("test", item, key):
                reset, _ = await self._stats(item, key)
                waits.append(max(1, math.ceil(reset - time.time())))
        return max(waits) if waits else None

    async def failed(self, username: str, address: str) -> None:
        for item, key in self._buckets(username, address):
            await self._call("hit", item, key)

    def _buckets(self, username: str, address: str) -> list[tuple[RateLimitItem, str]]:
        return [
            (self.per_username, f"{self.prefix}:user:{username}"),
            (self.per_address, f"{self.prefix}:ip:{address}"),
        ]

    async def _call(self, method: str, item: RateLimitItem, key: str) -> bool:
        try:
            result: bool = await getattr(self._active(), method)(item, key)
        except Exception:
            self._switch_to_memory()
            result = await getattr(self._active(), method)(item, key)
        return result

    async def _stats(self, item: RateLimitItem, key: str) -> tuple[float, int]:
        try:
            stats = await self._active().get_window_stats(item, key)
        except Exception:
            self._switch_to_memory()
            stats = await self._active().get_window_stats(item, key)
        return stats.reset_time, stats.remaining

    def _active(self) -> MovingWindowRateLimiter:
        return self._fallback or self._limiter

    def _switch_to_memory(self) -> None:
        if self._fallback is None:
            log.warning("login_throttle_degraded", detail="Redis failed; counting failed sign-ins in memory")
            self._fallback = MovingWindowRateLimiter(MemoryStorage())
