"""Why a provider call failed, in classes the router can act on.

    LLMError
      ├── ProviderError        one provider failed one attempt; `reason` says how
      └── AllProvidersFailed   every provider of the chain failed; `attempts` lists each

Adapters translate their SDK's exceptions into `ProviderError` and nothing else escapes them.
A `detail` never carries a credential or a prompt: it is logged and may reach a client.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureReason(StrEnum):
    connect_error = "connect_error"
    timeout = "timeout"
    rate_limited = "rate_limited"
    server_error = "server_error"
    credentials_rejected = "credentials_rejected"
    bad_request = "bad_request"
    malformed_response = "malformed_response"
    stream_interrupted = "stream_interrupted"
    circuit_open = "circuit_open"
    deadline_exceeded = "deadline_exceeded"
    # The provider's own queue is full (the built-in model): not broken, and not worth a retry now.
    busy = "busy"


# Worth another try at the same provider after a pause.
RETRYABLE = frozenset(
    {
        FailureReason.connect_error,
        FailureReason.timeout,
        FailureReason.rate_limited,
        FailureReason.server_error,
    }
)


class LLMError(Exception):
    """Base of every error the LLM layer raises."""


class ProviderError(LLMError):
    """One attempt at one provider failed."""

    def __init__(
        self,
        provider: str,
        reason: FailureReason,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{provider}: {reason.value}: {detail}")
        self.provider = provider
        self.reason = reason
        self.detail = detail
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """True when the same provider may succeed if asked again after a pause."""
        return self.reason in RETRYABLE


@dataclass(frozen=True, slots=True)
class Attempt:
    """One failed try at one provider, as recorded and reported."""

    provider: str
    model: str
    reason: FailureReason
    detail: str
    latency_ms: float
    status: int | None = None


class AllProvidersFailed(LLMError):
    """Every provider of the chain failed; `attempts` holds each failure in order."""

    def __init__(self, attempts: list[Attempt]) -> None:
        summary = (
            "; ".join(f"{a.provider}: {a.reason.value}" for a in attempts) or "no provider is configured"
        )
        super().__init__(f"every provider failed ({summary})")
        self.attempts = attempts
