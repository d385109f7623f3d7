"""A shared store (Redis) while it answers, this process's own while it does not.

Breakers and key quotas both keep their state in Redis so that replicas agree, and both must keep
working when Redis is down, full or slow: a call to the shared store that fails or takes longer than
`timeout` is served by the local store instead, and the shared store is left alone for `retry_after`
seconds before it is tried again. One class, so that every such store degrades and recovers alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

S = TypeVar("S")
T = TypeVar("T")


class StoreFallback(Generic[S]):
    """Runs each call on `shared` (None: there is none) or, while it is skipped, on `local`; a failure
    is logged once per outage as `event` with `detail`."""

    def __init__(
        self,
        shared: S | None,
        local: S,
        *,
        timeout: float,
        retry_after: float,
        event: str,
        detail: str,
    ) -> None:
        self.shared = shared
        self.local = local
        self.timeout = timeout
        self.retry_after = retry_after
        self._event = event
        self._detail = detail
        self._shared_down_until = 0.0

    @property
    def degraded(self) -> bool:
        """True while the shared store is skipped after a failure."""
        return time.monotonic() < self._shared_down_until

    async def call(self, operation: Callable[[S], Awaitable[T]]) -> T:
        if self.shared is not None and not self.degraded:
            try:
                async with asyncio.timeout(self.timeout):
                    return await operation(self.shared)
            except (RedisError, OSError, TimeoutError) as exc:
                self._shared_down_until = time.monotonic() + self.retry_after
                log.warning(
                    self._event, error=type(exc).__name__, retry_seconds=self.retry_after, detail=self._detail
                )
        return await operation(self.local)
