"""One lookup for many callers: concurrent misses of one key share the first caller's load.

When a cache entry is missing or has just expired, a burst of requests for it would otherwise each
read the database at once (a thousand streams starting together made a thousand identical key
lookups, and exhausted the pool). Here the first caller loads; the others wait for its result, or
its exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Runs at most one `load()` per key at a time; callers that arrive meanwhile share its outcome."""

    def __init__(self) -> None:
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        while (running := self._loading.get(key)) is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this caller was cancelled
                # The loader was cancelled, not this caller: load again.
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marked as retrieved: waiters may be none, and that is no error
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._loading[key]
