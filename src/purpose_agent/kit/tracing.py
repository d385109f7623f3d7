"""Spans of our own (retrieval, model attempts, ingestion stages) and the trace ids in log lines.

Only the OpenTelemetry API is used here. Until `kit.tracing_setup.configure_tracing` installs the SDK
(TRACING_ENABLED=true), every span is the API's no-op span: a few microseconds, nothing recorded.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any, Final, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, format_span_id, format_trace_id
from opentelemetry.util.types import AttributeValue

__all__ = ["add_trace_ids", "annotate", "current", "span", "span_async", "start_span", "traced"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

# A proxy until the SDK's provider is installed, then that provider's tracer.
_tracer: Final = trace.get_tracer("purpose_agent")

Attributes = Mapping[str, AttributeValue]


def span(name: str, attributes: Attributes | None = None) -> AbstractContextManager[Span]:
    """A span around a block, current inside it (so SQL and HTTP spans nest under it)."""
    return _tracer.start_as_current_span(name, attributes=attributes)


@asynccontextmanager
async def span_async(name: str, attributes: Attributes | None = None) -> AsyncIterator[Span]:
    """`span` for an `async with` statement that opens other async context managers after it."""
    with _tracer.start_as_current_span(name, attributes=attributes) as started:
        yield started


def traced(name: str) -> Callable[[Callable[_P, Awaitable[_R]]], Callable[_P, Awaitable[_R]]]:
    """Run every call of an async function in a span `name`."""

    def decorate(function: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
        @functools.wraps(function)
        async def in_span(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with _tracer.start_as_current_span(name):
                return await function(*args, **kwargs)

        return in_span

    return decorate


def annotate(attributes: Attributes) -> None:
    """Add attributes to the current span, when it is recorded."""
    current_span = trace.get_current_span()
    if current_span.is_recording():
        current_span.set_attributes(attributes)


def start_span(name: str, attributes: Attributes | None = None) -> Span:
    """A span that starts now under the current one, without becoming current; the caller ends it."""
    return _tracer.start_span(name, attributes=attributes)


def current(started: Span) -> AbstractContextManager[Span]:
    """Make a span from `start_span` current for a block, leaving its status and end to its owner."""
    return trace.use_span(started, end_on_exit=False, record_exception=False, set_status_on_exception=False)


def add_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the trace and span ids of the line's span, when its trace is sampled (an
    id of a trace that is not kept would lead nowhere)."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid and context.trace_flags.sampled:
        event_dict["trace_id"] = format_trace_id(context.trace_id)
        event_dict["span_id"] = format_span_id(context.span_id)
    return event_dict
