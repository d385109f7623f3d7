"""Values kept for a few seconds and loaded once per miss, however many callers miss together.

Keys, users and personas are read on every request and change rarely: each is kept for a short
lifetime, a burst of callers that miss the same key shares one load (`SingleFlight`), and a load that
finds nothing (None, or a value the cache's `keep` refuses) is never kept, so an unknown key costs a
lookup every time. A lifetime of 0 keeps nothing and only shares concurrent loads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

from purpose_agent.kit.single_flight import SingleFlight

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoadingCache(Generic[K, V]):
    """At most `maxsize` values, each for `ttl_seconds`; `get` loads what is missing. `keep` says which
    loaded values are kept (by default, all but None): the others go only to the callers that waited."""

    def __init__(self, ttl_seconds: float, maxsize: int, keep: Callable[[V], bool] | None = None) -> None:
        self._values: TTLCache[K, V] | None = TTLCache(maxsize, ttl=ttl_seconds) if ttl_seconds > 0 else None
        self._loads: SingleFlight[K, V | None] = SingleFlight()
        self._keep = keep

    async def get(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The kept value, or `load()`'s (kept unless None)."""
        if self._values is not None and (found := self._values.get(key)) is not None:
            return found
        value = await self._loads.run(key, load)
        if value is not None and self._values is not None and (self._keep is None or self._keep(value)):
            self._values[key] = value
        return value

    def forget(self, key: K) -> None:
        if self._values is not None:
            self._values.pop(key, None)

    def forget_where(self, matches: Callable[[V], bool]) -> None:
        """Drop every kept value that `matches`."""
        if self._values is not None:
            for key in [key for key, value in self._values.items() if matches(value)]:
                self._values.pop(key, None)

    def clear(self) -> None:
        if self._values is not None:
            self._values.clear()
