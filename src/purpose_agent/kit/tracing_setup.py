"""Turn tracing on for a process: the OpenTelemetry SDK, its OTLP/HTTP exporter, and the libraries'
instrumentations (FastAPI/ASGI, httpx, SQLAlchemy, Redis).

Called once at start by the API and the worker when TRACING_ENABLED is true; until then (and always
when it is false) the SDK is not even imported. Spans leave in batches from the SDK's own thread and
bounded queue: a collector that is down costs dropped spans, never a waiting request.

The OpenAI and Anthropic adapters speak httpx2, which no instrumentation covers: their calls show as
our own model-attempt spans (`llm.attempt`), without an HTTP span beneath.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from opentelemetry import trace

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace.sampling import Sampler

__all__ = ["configure_tracing", "trace_app"]

# ASGI's per-message spans (one per body chunk, so one per token of a stream) cost more than they tell.
_SKIPPED_ASGI_SPANS: Final[list[Literal["receive", "send"]]] = ["receive", "send"]


def _sampler(name: str, ratio: float) -> Sampler:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

    root = {"always_on": ALWAYS_ON, "always_off": ALWAYS_OFF, "traceidratio": TraceIdRatioBased(ratio)}
    if name.startswith("parentbased_"):
        return ParentBased(root[name.removeprefix("parentbased_")])
    return root[name]


def configure_tracing(
    *, service: str, version: str, endpoint: str, sampler: str, sampler_ratio: float
) -> None:
    """Install the SDK's tracer provider for this process, exporting to `endpoint` (a full /v1/traces URL).

    `sampler` is an OTEL_TRACES_SAMPLER name (always_on, parentbased_traceidratio, ...), `sampler_ratio`
    its argument. A second call in the same process changes nothing.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(
        sampler=_sampler(sampler, sampler_ratio),
        resource=Resource.create({"service.name": service, "service.version": version}),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    # Wraps sqlalchemy.ext.asyncio.create_async_engine: every engine made from now on is traced. Its
    # declared range ends before SQLAlchemy 2.1, whose engine events it uses are unchanged (the
    # process tests check the spans), so the version check is skipped.
    SQLAlchemyInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)


def trace_app(app: FastAPI) -> None:
    """A server span around every request of `app`, named by its route template (`POST /api/chat`),
    outside every middleware so that the access line carries its trace id."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, exclude_spans=_SKIPPED_ASGI_SPANS)
