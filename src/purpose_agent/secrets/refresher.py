"""The secrets fetched again every TTL in the background, and changed values handed to who uses them.

A running process keeps using what it read at start unless something follows the provider: the
refresher fetches every `every` seconds (off the event loop: the SDKs block) and, when a value it
watches changed, calls each subscriber with the values (the token service rotates its signing key).
A fetch that fails, or a value that went missing, is logged and the last good values are kept; the
next fetch comes one interval later, as usual. Values are never logged, only their names.

`refresh_on_demand` lets a caller that met something the current values cannot explain (a token
signed with a key this process has not seen yet: another replica fetched a rotated key first) fetch
at once; at most once every `on_demand_every` seconds, so a stream of such requests costs one fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Mapping

import structlog

from purpose_agent.secrets.cache import SecretCache
from purpose_agent.secrets.errors import SecretsError

log = structlog.get_logger("purpose_agent.secrets")

Subscriber = Callable[[Mapping[str, str]], None]

# A TTL of 0 (fetch at every read) would make the loop spin: the background refresh waits this at least.
SHORTEST_INTERVAL_SECONDS = 1.0


class SecretRefresher:
    """Refreshes `names` through `cache` every `every` seconds once started, until closed."""

    def __init__(
        self,
        cache: SecretCache,
        names: Collection[str],
        every: float,
        *,
        on_demand_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.names = frozenset(names)
        self.every = max(every, SHORTEST_INTERVAL_SECONDS)
        self.on_demand_every = on_demand_every
        self._clock = clock
        held = cache.held()
        self._values = {name: held[name] for name in self.names if name in held}
        self._subscribers: list[Subscriber] = []
        self._loop: asyncio.Task[None] | None = None
        self._running: asyncio.Task[bool] | None = None
        self._started_at = float("-inf")
        self._failing = False

    @property
    def values(self) -> dict[str, str]:
        """The watched values as last fetched successfully."""
        return dict(self._values)

    def subscribe(self, on_change: Subscriber) -> None:
        """Call `on_change(values)` after each refresh that changed one of the watched values."""
        self._subscribers.append(on_change)

    def start(self) -> None:
        """Refresh every interval from now on (needs a running event loop)."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._every_interval(), name="secrets-refresh")

    async def refresh(self) -> bool:
        """Fetch now, or wait for the fetch already under way; whether it succeeded."""
        if self._running is None:
            self._started_at = self._clock()
            self._running = asyncio.create_task(self._refresh_once(), name="secrets-refresh-once")
        # Shielded: a caller that stops waiting (its request was cancelled) leaves the fetch to finish.
        return await asyncio.shield(self._running)

    async def refresh_on_demand(self, wait_seconds: float) -> None:
        """Refresh unless one started less than `on_demand_every` seconds ago (then at once return),
        waiting for it `wait_seconds` at most."""
        if self._running is None and self._clock() - self._started_at < self.on_demand_every:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_seconds):
                await self.refresh()

    async def aclose(self) -> None:
        for task in (self._loop, self._running):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop = self._running = None

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.refresh()

    async def _refresh_once(self) -> bool:
        try:
            return await self._fetch_and_hand_on()
        finally:
            self._running = None

    async def _fetch_and_hand_on(self) -> bool:
        provider = self.cache.provider_name
        try:
            fetched = await asyncio.to_thread(self.cache.refresh)
        except Exception as exc:
            # A SecretsError says what is wrong in one line without a value; anything else an SDK
            # raises is named by its type only. Either way the loop goes on with the last values.
            error = str(exc) if isinstance(exc, SecretsError) else type(exc).__name__
            log.warning("secrets_refresh_failed", provider=provider, error=error, kept="the last values")
            self._failing = True
            return False
        if self._failing:
            log.info("secrets_refresh_recovered", provider=provider)
            self._failing = False
        missing = sorted(self.names - fetched.keys())
        if missing:
            log.warning("secrets_missing", provider=provider, names=missing, kept="the last values")
        values = {**self._values, **{name: fetched[name] for name in self.names if name in fetched}}
        changed = sorted(name for name in values if values[name] != self._values.get(name))
        self._values = values
        if changed:
            log.info("secrets_changed", provider=provider, names=changed)
            for subscriber in self._subscribers:
                try:
                    subscriber(dict(values))
                except Exception:
                    log.exception("secrets_not_applied", names=changed)
        return True
