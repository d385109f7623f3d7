"""Where logs go besides stdout and how they look, traces (OpenTelemetry) and Server-Timing headers.

The OTLP exporter is configured by the standard OTEL_* variables; the ones read here are validated at
start (a malformed endpoint stops it with one line) and, unlike the others, may also come from `.env`.
The rest (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES, timeouts, compression, ...) are read
by the OpenTelemetry SDK from the process environment as usual.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationInfo, field_validator

from purpose_agent.settings.fields import OptionalSecret, OptionalText, blank_is_none, group_config, listed

KNOWN_LOG_SINKS = ("seq", "otlp")


class LogFormat(StrEnum):
    auto = "auto"
    console = "console"
    json = "json"


class TracesSampler(StrEnum):
    """The OTEL_TRACES_SAMPLER values the SDK builds without a plugin."""

    always_on = "always_on"
    always_off = "always_off"
    traceidratio = "traceidratio"
    parentbased_always_on = "parentbased_always_on"
    parentbased_always_off = "parentbased_always_off"
    parentbased_traceidratio = "parentbased_traceidratio"


def _http_url(value: str | None) -> str | None:
    """An http(s) URL with a host, or None; a URL without its scheme is the usual slip."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:4318")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError("the port must be a number") from None
    return value.rstrip("/")


HttpUrl = Annotated[OptionalText, AfterValidator(_http_url)]


class LogSinkSettings(BaseModel):
    """Log format and sinks
    Every line goes to stdout; sinks get the same redacted lines in batches, from a bounded queue that
    a background thread drains. When a sink is down or slow its lines are dropped (never stdout's) and
    counted in purpose_agent_log_lines_dropped_total{sink}."""

    model_config = group_config()

    log_format: LogFormat = LogFormat.auto
    """auto | console | json. auto: readable console lines when APP_ENV is development and stdout is a
    terminal, else one JSON object per line."""
    log_sinks: str = ""
    """Where else logs go, comma-separated: seq (SEQ_URL), otlp (the OTLP endpoint below); empty: none."""
    seq_url: Annotated[HttpUrl, Field(validate_default=True)] = None
    """Seq's base URL, e.g. http://seq.internal:5341 (events go to /api/events/raw as CLEF)."""
    seq_api_key: OptionalSecret = None
    """Sent as X-Seq-ApiKey when set."""
    log_sink_queue_lines: Annotated[int, Field(ge=10, le=1_000_000)] = 10_000
    """Lines each sink may hold while it sends; past it, new lines are dropped and counted."""

    @field_validator("log_sinks")
    @classmethod
    def _known_sinks(cls, value: str) -> str:
        names = [name.lower() for name in listed(value)]
        unknown = [name for name in names if name not in KNOWN_LOG_SINKS]
        if unknown:
            raise ValueError(f"unknown sink {unknown[0]!r} (known: {', '.join(KNOWN_LOG_SINKS)})")
        return ",".join(dict.fromkeys(names))

    @field_validator("seq_url")
    @classmethod
    def _seq_url_for_seq(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and "seq" in listed(info.data.get("log_sinks", "")):
            raise ValueError("is needed when LOG_SINKS includes seq")
        return value

    @property
    def sink_names(self) -> list[str]:
        return listed(self.log_sinks)


class TracingSettings(BaseModel):
    """Traces and timings
    Traces go over OTLP/HTTP (protobuf) to OTEL_EXPORTER_OTLP_ENDPOINT; the other OTEL_* variables of
    the OpenTelemetry SDK (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES, ...) work as usual."""

    model_config = group_config()

    tracing_enabled: bool = False
    """Send traces of requests (HTTP, SQL, Redis, outgoing httpx calls), retrieval, each model attempt and
    each ingestion stage; log lines of a sampled trace carry its trace_id and span_id."""
    otel_service_name: OptionalText = None
    """The service name of traces and OTLP logs; empty: SERVICE_NAME."""
    otel_exporter_otlp_endpoint: HttpUrl = None
    """Base URL of the OTLP/HTTP receiver (/v1/traces and /v1/logs are added); empty: http://localhost:4318."""
    otel_exporter_otlp_traces_endpoint: HttpUrl = None
    """Full URL for traces only, used as given."""
    otel_exporter_otlp_logs_endpoint: HttpUrl = None
    """Full URL for logs only (LOG_SINKS=otlp), used as given."""
    otel_exporter_otlp_protocol: OptionalText = None
    """Only http/protobuf is supported (grpc is refused rather than sent to the wrong port)."""
    otel_traces_sampler: TracesSampler = TracesSampler.parentbased_always_on
    """always_on | always_off | traceidratio | parentbased_always_on | parentbased_always_off |
    parentbased_traceidratio (with OTEL_TRACES_SAMPLER_ARG=0.1, one new trace in ten is kept)."""
    otel_traces_sampler_arg: Annotated[float | None, Field(ge=0, le=1)] = None
    """The ratio of the *traceidratio samplers, 0 to 1; empty: 1."""
    server_timing: Annotated[bool | None, BeforeValidator(blank_is_none)] = None
    """Send each response's stage timings (auth, retrieval, model, write) as a Server-Timing header;
    empty: on in development, off in production (timings tell callers about the system's insides)."""

    @field_validator("otel_exporter_otlp_protocol", mode="before")
    @classmethod
    def _http_protobuf_only(cls, value: object) -> object:
        value = blank_is_none(value)
        if value is not None and value != "http/protobuf":
            raise ValueError("only http/protobuf is supported")
        return value

    @field_validator("otel_traces_sampler", mode="before")
    @classmethod
    def _lower_sampler(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("otel_traces_sampler_arg", mode="before")
    @classmethod
    def _blank_sampler_arg(cls, value: object) -> object:
        return blank_is_none(value)

    @property
    def sampler_ratio(self) -> float:
        return 1.0 if self.otel_traces_sampler_arg is None else self.otel_traces_sampler_arg

    def traces_endpoint(self) -> str:
        """Where spans are sent: the traces URL as given, else the base URL's /v1/traces."""
        return self.otel_exporter_otlp_traces_endpoint or f"{self._base_endpoint()}/v1/traces"

    def logs_endpoint(self) -> str:
        """Where OTLP log records are sent: the logs URL as given, else the base URL's /v1/logs."""
        return self.otel_exporter_otlp_logs_endpoint or f"{self._base_endpoint()}/v1/logs"

    def _base_endpoint(self) -> str:
        return self.otel_exporter_otlp_endpoint or "http://localhost:4318"
