"""A TTL cache in front of a secrets provider: one fetch per TTL, and last values through an outage.

`get` serves the settings read at start; `refresh` is the background refresh's (refresher.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from purpose_agent.secrets.errors import SecretsError
from purpose_agent.secrets.provider import SecretsProvider

Clock = Callable[[], float]


@dataclass(frozen=True)
class _Fetched:
    names: frozenset[str]
    values: dict[str, str]
    at: float


class SecretCache:
    """Values are fresh for `ttl_seconds` after a successful fetch, and served without a call.

    Once stale, the next `get` fetches again. When that fetch fails, the last values are still
    served until one more TTL has run out (at most twice the TTL after they were fetched), so a
    short outage of the provider is not felt; after that the failure is raised. A first fetch that
    fails raises at once: there is nothing to serve.
    """

    def __init__(
        self, provider: SecretsProvider, ttl_seconds: float, *, clock: Clock = time.monotonic
    ) -> None:
        self.provider = provider
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._fetched: _Fetched | None = None
        self._lock = threading.Lock()

    @property
    def provider_name(self) -> str:
        return self.provider.name

    def get(self, names: Collection[str]) -> dict[str, str]:
        """The values of those of `names` the provider holds; raises `SecretsError` as described."""
        wanted = frozenset(names)
        with self._lock:
            now = self._clock()
            fetched = self._fetched
            covers = fetched is not None and wanted <= fetched.names
            if fetched is not None and covers and now < fetched.at + self.ttl_seconds:
                return _only(fetched.values, wanted)
            asked = wanted | fetched.names if fetched is not None else wanted
            try:
                values = self.provider.fetch(sorted(asked))
            except SecretsError:
                if fetched is not None and covers and now < fetched.at + 2 * self.ttl_seconds:
                    return _only(fetched.values, wanted)
                raise
            self._fetched = _Fetched(names=asked, values=values, at=now)
            return _only(values, wanted)

    def held(self) -> dict[str, str]:
        """The values fetched last, without a call (empty before the first fetch)."""
        with self._lock:
            return dict(self._fetched.values) if self._fetched is not None else {}

    def refresh(self) -> dict[str, str]:
        """Fetch every name asked for so far, now, whatever the age of the values; the values fetched.

        Raises `SecretsError` when the fetch fails, keeping the last values as they were."""
        with self._lock:
            fetched = self._fetched
            if fetched is None:
                raise RuntimeError("nothing was asked of the secrets provider yet")
            values = self.provider.fetch(sorted(fetched.names))
            self._fetched = _Fetched(names=fetched.names, values=values, at=self._clock())
            return dict(values)


def _only(values: dict[str, str], names: frozenset[str]) -> dict[str, str]:
    return {name: value for name, value in values.items() if name in names}
