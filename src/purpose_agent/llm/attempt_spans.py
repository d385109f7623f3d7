"""One span per provider attempt of the router (`llm.attempt`), with its provider, model and outcome.

The outcome is `success` or the failure's reason (`timeout`, `rate_limited`, `circuit_open`, ...): an
attempt the router did not make (breaker open, deadline gone) is a span of no length with that reason.
Only names and counts go into a span, never a message or a provider's error text: spans do not pass
through the log redactor.
"""

from __future__ import annotations

from opentelemetry.trace import Span, StatusCode

from purpose_agent.kit.tracing import start_span
from purpose_agent.llm.types import Usage

ATTEMPT_SPAN = "llm.attempt"


def start_attempt_span(provider: str, model: str, number: int) -> Span:
    """The span of a call about to go out (`number` 0 for the first try at this provider)."""
    return start_span(ATTEMPT_SPAN, {"llm.provider": provider, "llm.model": model, "llm.try": number + 1})


def end_attempt_span(
    span: Span, outcome: str, *, usage: Usage | None = None, after_first_token: bool = False
) -> None:
    """End the attempt's span with its outcome (`success`, or the failure's reason)."""
    if span.is_recording():
        span.set_attribute("llm.outcome", outcome)
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
        if after_first_token:
            span.set_attribute("llm.after_first_token", True)
        if outcome != "success":
            span.set_status(StatusCode.ERROR, outcome)
    span.end()


def refused_attempt_span(provider: str, model: str, reason: str) -> None:
    """A span for an attempt the router refused to make (breaker open, deadline reached)."""
    end_attempt_span(start_span(ATTEMPT_SPAN, {"llm.provider": provider, "llm.model": model}), reason)
