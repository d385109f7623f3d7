"""The OTLP logs sink: our JSON log lines as OpenTelemetry log records, sent by the SDK's OTLP/HTTP
exporter (protobuf) to the collector's /v1/logs.

A record's body is the event, its severity the level, its trace context the line's trace_id and
span_id (so a backend links it to its trace); the exception text is `exception.stacktrace` and every
other field an attribute (nested values as JSON text). The exporter reads the other OTEL_EXPORTER_OTLP_*
variables (headers, certificates, compression) from the environment itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import orjson
from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.util.types import AnyValue

__all__ = ["OtlpLogSink"]

_SEVERITIES: Final = {
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warning": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
    "exception": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}
# Fields that become part of the record itself rather than attributes.
_RECORD_FIELDS: Final = frozenset({"event", "level", "timestamp", "exception", "trace_id", "span_id"})


class OtlpLogSink:
    """Exports batches of log lines as OTLP log records."""

    name = "otlp"

    def __init__(self, endpoint: str, *, service: str, version: str, timeout_seconds: float = 5.0) -> None:
        self._exporter = OTLPLogExporter(endpoint=endpoint, timeout=timeout_seconds)
        self._resource = Resource.create({"service.name": service, "service.version": version})
        self._scope = InstrumentationScope("purpose_agent", version)
        self._closed = False

    def send(self, lines: Sequence[str]) -> None:
        """Export the lines as one batch; raises unless the collector accepted it."""
        records = [self._record(orjson.loads(line)) for line in lines]
        if self._exporter.export(records) is not LogRecordExportResult.SUCCESS:
            raise RuntimeError("the OTLP logs endpoint did not accept the batch")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._exporter.shutdown()  # type: ignore[no-untyped-call]

    def _record(self, line: dict[str, Any]) -> ReadableLogRecord:
        level = str(line.get("level", "info"))
        attributes = {
            key: _attribute(value)
            for key, value in line.items()
            if key not in _RECORD_FIELDS and value is not None
        }
        if "exception" in line:
            attributes["exception.stacktrace"] = str(line["exception"])
        record = LogRecord(
            timestamp=_nanoseconds(line.get("timestamp")),
            context=_trace_context(line.get("trace_id"), line.get("span_id")),
            severity_text=level.upper(),
            severity_number=_SEVERITIES.get(level, SeverityNumber.INFO),
            body=str(line.get("event", "")),
            attributes=attributes,
        )
        return ReadableLogRecord(
            log_record=record, resource=self._resource, instrumentation_scope=self._scope
        )


def _attribute(value: Any) -> AnyValue:
    if isinstance(value, str | bool | int | float):
        return value
    return orjson.dumps(value, default=str).decode()


def _nanoseconds(timestamp: object) -> int | None:
    if not isinstance(timestamp, str):
        return None
    try:
        return int(datetime.fromisoformat(timestamp).timestamp() * 1_000_000_000)
    except ValueError:
        return None


def _trace_context(trace_id: object, span_id: object) -> Any:
    """A context holding the line's span, so that the record carries its trace; the current one (none,
    on the shipping thread) when the line has no trace."""
    if not (isinstance(trace_id, str) and isinstance(span_id, str)):
        return None
    try:
        span = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=TraceFlags(1))
    except ValueError:
        return None
    return trace.set_span_in_context(NonRecordingSpan(span))
