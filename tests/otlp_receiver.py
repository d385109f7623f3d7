"""A local OTLP/HTTP receiver, as a collector speaks it: protobuf `ExportTraceServiceRequest`s at
/v1/traces and `ExportLogsServiceRequest`s at /v1/logs, kept for the test to read.

It runs in a thread on 127.0.0.1 and answers each export with an empty success response.
"""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.local_http import LocalServer, QuietHandler

T = TypeVar("T")


def attribute_value(value: AnyValue) -> Any:
    """The Python value of an OTLP attribute value."""
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def attributes(pairs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    return {pair.key: attribute_value(pair.value) for pair in pairs}


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One span as exported, with its service's name and its ids in hex."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    status_code: int

    @classmethod
    def of(cls, service: str, span: Span) -> ReceivedSpan:
        return cls(
            service=service,
            name=span.name,
            kind=span.kind,
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_id=span.parent_span_id.hex(),
            attributes=attributes(span.attributes),
            status_code=span.status.code,
        )


@dataclass(frozen=True, slots=True)
class ReceivedLog:
    service: str
    body: str
    severity_text: str
    trace_id: str
    span_id: str
    attributes: dict[str, Any]

    @classmethod
    def of(cls, service: str, record: LogRecord) -> ReceivedLog:
        return cls(
            service=service,
            body=str(attribute_value(record.body)),
            severity_text=record.severity_text,
            trace_id=record.trace_id.hex(),
            span_id=record.span_id.hex(),
            attributes=attributes(record.attributes),
        )


class OtlpReceiver(LocalServer):
    """Collects the spans and log records exported to it."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.logs: list[ReceivedLog] = []
        self.content_types: set[str] = set()
        super().__init__(self._handler())

    @property
    def endpoint(self) -> str:
        return self.base_url

    def wait_for(self, found: Callable[[], T | None], timeout: float = 20.0) -> T:
        """What `found` returns once it is something, polling what has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                result = found()
            if result:
                return result
            time.sleep(0.1)
        names = sorted({span.name for span in self.spans})
        raise AssertionError(f"not received in {timeout} s; spans {names}, {len(self.logs)} log records")

    def _received(self, path: str, body: bytes, content_type: str) -> bytes:
        with self._lock:
            self.content_types.add(content_type)
            if path == "/v1/traces":
                traces = ExportTraceServiceRequest.FromString(body)
                for resource_spans in traces.resource_spans:
                    service = attributes(resource_spans.resource.attributes).get("service.name", "")
                    for scope in resource_spans.scope_spans:
                        self.spans += [ReceivedSpan.of(service, span) for span in scope.spans]
                answer: bytes = ExportTraceServiceResponse().SerializeToString()
                return answer
            logs = ExportLogsServiceRequest.FromString(body)
            for resource_logs in logs.resource_logs:
                service = attributes(resource_logs.resource.attributes).get("service.name", "")
                for scope_logs in resource_logs.scope_logs:
                    self.logs += [ReceivedLog.of(service, record) for record in scope_logs.log_records]
            answer = ExportLogsServiceResponse().SerializeToString()
            return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.body()
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path not in ("/v1/traces", "/v1/logs"):
                    self.send_error(404)
                    return
                answer = receiver._received(self.path, body, self.headers.get("Content-Type", ""))
                self.answer(200, "application/x-protobuf", answer)

        return Handler
