"""What the router tells Prometheus: each attempt's outcome, the answers' latency, tokens and cost, the
failovers, and the breakers' states (the metrics themselves are defined in `kit.metrics`).

A `model` label is `provider/model` as configured (what `model_used` says), so that one model served
by two providers stays two series.
"""

from __future__ import annotations

from purpose_agent.kit.metrics import (
    LLM_ALL_FAILED,
    LLM_BREAKER_STATE,
    LLM_COST,
    LLM_DURATION,
    LLM_FAILOVERS,
    LLM_FIRST_TOKEN,
    LLM_REQUESTS,
    LLM_TOKENS,
)
from purpose_agent.llm.breaker import BreakerState
from purpose_agent.llm.errors import Attempt, FailureReason
from purpose_agent.llm.types import Usage

SUCCESS = "success"
CUT = "cut"
# An attempt's outcome: the few an operator tells apart; every other failure is `error`.
OUTCOMES = {
    FailureReason.timeout: "timeout",
    FailureReason.deadline_exceeded: "timeout",
    FailureReason.rate_limited: "rate_limited",
    FailureReason.circuit_open: "breaker_open",
}
# Why the router moved on from a provider: each failure kind, under the name the alert rules use.
FAILOVER_REASONS = {
    FailureReason.connect_error: "connection",
    FailureReason.timeout: "timeout",
    FailureReason.rate_limited: "rate_limited",
    FailureReason.server_error: "server_error",
    FailureReason.credentials_rejected: "auth",
    FailureReason.bad_request: "bad_request",
    FailureReason.malformed_response: "malformed",
    FailureReason.stream_interrupted: "stream_interrupted",
    FailureReason.circuit_open: "breaker_open",
    FailureReason.deadline_exceeded: "deadline_exceeded",
    FailureReason.busy: "busy",
}
BREAKER_VALUES = {BreakerState.closed: 0.0, BreakerState.half_open: 1.0, BreakerState.open: 2.0}


def model_label(provider: str, model: str) -> str:
    """The `model` label of an attempt: `provider/model`."""
    return f"{provider}/{model}"


def attempt_failed(attempt: Attempt, *, cut: bool = False) -> None:
    """A failed attempt (a skip by an open breaker too); `cut`: a stream that failed after its first token."""
    outcome = CUT if cut else OUTCOMES.get(attempt.reason, "error")
    LLM_REQUESTS.labels(attempt.provider, model_label(attempt.provider, attempt.model), outcome).inc()


def attempt_answered(
    provider: str, model_used: str, seconds: float, usage: Usage, cost: float | None
) -> None:
    """A successful attempt: its latency, tokens and estimated cost."""
    LLM_REQUESTS.labels(provider, model_used, SUCCESS).inc()
    LLM_DURATION.labels(provider, model_used).observe(seconds)
    LLM_TOKENS.labels(provider, model_used, "prompt").inc(usage.prompt_tokens)
    LLM_TOKENS.labels(provider, model_used, "completion").inc(usage.completion_tokens)
    if cost is not None:
        LLM_COST.labels(provider, model_used).inc(cost)


def first_token(provider: str, model_used: str, seconds: float) -> None:
    """A streamed attempt's first token, `seconds` after its call."""
    LLM_FIRST_TOKEN.labels(provider, model_used).observe(seconds)


def moved_on(provider: str, reason: FailureReason) -> None:
    """The chain left `provider` for the next one after this failure."""
    LLM_FAILOVERS.labels(provider, FAILOVER_REASONS.get(reason, reason.value)).inc()


def all_failed() -> None:
    """Every provider of a request's chain failed."""
    LLM_ALL_FAILED.inc()


def breaker_state(provider: str, state: BreakerState) -> None:
    """The state of a provider's breaker, as its store reports it."""
    LLM_BREAKER_STATE.labels(provider).set(BREAKER_VALUES[state])
