"""Turn tracing on for a process: the OpenTelemetry SDK, its OTLP/HTTP exporter, and the libraries'
instrumentations (ASGI, httpx, SQLAlchemy, Redis).

Called once at start by the API and the worker when TRACING_ENABLED is true; until then (and always
when it is false) the SDK is not even imported. Spans leave in batches from the SDK's own thread and
bounded queue: a collector that is down costs dropped spans, never a waiting request.

The OpenAI and Anthropic adapters speak httpx2, which no instrumentation covers: their calls show as
our own model-attempt spans (`llm.attempt`), without an HTTP span beneath.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

from opentelemetry import trace
from opentelemetry.trace import Span
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace.sampling import Sampler

__all__ = ["configure_tracing", "trace_app"]

_URL_ATTRIBUTES: Final = ("http.url", "url.full", "http.target")
_CLIENT_ADDRESS_ATTRIBUTES: Final = ("net.peer.ip", "client.address", "net.sock.peer.addr")
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


def trace_app(app: FastAPI, *, redact_ip_addresses: bool = True) -> None:
    """A server span around every request of `app`, named by its route template (`POST /api/chat`),
    outside every middleware so that the access line carries its trace id.

    The ASGI middleware names the span by the method at first and `_RequestSpan` adds the template
    once routing has found it: the FastAPI instrumentation matches every route again at the start of
    each request to name it, which cost a request more than the rest of its tracing.

    Spans do not pass through the log redactor, so what it would catch is kept out of them here: the
    query string (as the access line leaves it out: it may carry secrets), and with
    `redact_ip_addresses` the client's address. OTEL_PYTHON_FASTAPI_EXCLUDED_URLS is honoured."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.util.http import get_excluded_urls

    def keep_private(span: Span, scope: dict[str, Any]) -> None:
        if not isinstance(span, ReadableSpan) or not span.is_recording():
            return
        recorded = span.attributes or {}
        for key in _URL_ATTRIBUTES:
            if isinstance(value := recorded.get(key), str) and "?" in value:
                span.set_attribute(key, value.split("?", 1)[0])
        if "url.query" in recorded:
            span.set_attribute("url.query", "[REDACTED]")
        for key in _CLIENT_ADDRESS_ATTRIBUTES:
            if redact_ip_addresses and key in recorded:
                span.set_attribute(key, "[IP]")

    app.add_middleware(_RequestSpan)
    app.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=get_excluded_urls("FASTAPI"),
        default_span_details=_method_only,
        server_request_hook=keep_private,
        exclude_spans=_SKIPPED_ASGI_SPANS,
    )


def _method_only(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return str(scope.get("method", "HTTP")), {}


class _RequestSpan:
    """What the request's span needs from inside the ASGI middleware.

    A sampled request's span is named `METHOD /route/{template}` when the response starts (the router
    has matched the route by then, and FastAPI leaves it in the scope; the span ends with the body).
    A request the sampler did not keep runs with the libraries' instrumentations suppressed: the SQL,
    Redis and httpx spans they would make could never be kept, and making them was most of what an
    unsampled request paid for tracing. (Its outgoing httpx calls then carry no `traceparent`.)
    """

    def __init__(self, app: ASGIApp) -> None:
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        self.app = app
        self._suppressed = suppress_instrumentation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not span.is_recording():
            with self._suppressed():
                await self.app(scope, receive, send)
            return

        async def naming_send(message: Message) -> None:
            route = getattr(scope.get("route"), "path", None)
            if message["type"] == "http.response.start" and isinstance(route, str):
                span.update_name(f"{scope['method']} {route}")
                span.set_attribute("http.route", route)
            await send(message)

        await self.app(scope, receive, naming_send)
