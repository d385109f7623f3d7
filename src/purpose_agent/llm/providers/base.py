"""The interface every vendor adapter implements, and the configuration each one takes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.types import ChatRequest, Completion, StreamPart

_Client = TypeVar("_Client")


# Connections kept open between requests, per provider: enough for a steady load, not one per burst.
IDLE_CONNECTIONS = 100


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """What an adapter needs: where to call, with which key and model, and how long to wait."""

    name: str
    model: str
    api_key: str | None = None
    base_url: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_retries: int = 2
    # Connections open to the provider at once: as many as answers in flight (streams hold theirs
    # for the whole answer); past it, a request waits for one inside its deadline.
    max_connections: int = 1000
    options: dict[str, str] = field(default_factory=dict)

    def connection_limits(self) -> tuple[int, int]:
        """(at most open, at most kept idle between requests)."""
        return self.max_connections, min(self.max_connections, IDLE_CONNECTIONS)


@runtime_checkable
class Provider(Protocol):
    """One LLM vendor behind its official SDK. Every failure leaves as `ProviderError`."""

    @property
    def name(self) -> str:
        """The provider's name in the chain, e.g. `openai`."""
        ...

    @property
    def model(self) -> str:
        """The model used when a request names none."""
        ...

    @property
    def configured(self) -> bool:
        """True when it has what it needs to be called (credentials, a model file, a host)."""
        ...

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer at once."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamPart]:
        """Text deltas in order, then exactly one `StreamEnd`; a cut stream raises `ProviderError`."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP client (or model) held since construction."""
        ...


class ConfiguredProvider:
    """What every adapter does alike: it holds its `ProviderConfig` and is named by it.

    A subclass adds `configured`, `complete`, `stream` and `aclose`, which makes it a `Provider`.
    """

    def __init__(self, config: ProviderConfig) -> None:
        self._config = config

    @property
    def name(self) -> str:
        """The provider's name in the chain."""
        return self._config.name

    @property
    def model(self) -> str:
        """The model used when a request names none."""
        return self._config.model

    def _model_for(self, request: ChatRequest) -> str:
        """The model a request names, else the configured one."""
        return request.model or self._config.model

    def _require(self, client: _Client | None, missing: str) -> _Client:
        """`client`; a `ProviderError` if it was never built for want of `missing` (e.g. `API key`)."""
        if client is None:
            # Not retryable: nothing changes until the operator supplies what is missing.
            raise ProviderError(
                self.name, FailureReason.credentials_rejected, f"not configured: no {missing}"
            )
        return client
