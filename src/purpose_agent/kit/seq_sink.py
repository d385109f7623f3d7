"""The Seq sink: our JSON log lines as CLEF (compact log event format), posted in batches to Seq's raw
ingestion endpoint, `POST {SEQ_URL}/api/events/raw?clef` with `Content-Type: application/vnd.serilog.clef`.

Each line becomes one CLEF object: `@t` the timestamp, `@mt` the event (a structlog event name is a
constant, so Seq groups lines by it; braces are doubled as CLEF templates need), `@l` the level, `@x`
the exception text, `@tr`/`@sp` the trace and span ids; every other field is a property.

It speaks HTTP with the standard library's `http.client`: one keep-alive connection from the shipping
thread, and no HTTP client whose own logging or tracing would describe every batch.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

__all__ = ["SeqSink", "clef_event"]

CLEF_CONTENT_TYPE: Final = "application/vnd.serilog.clef"
_LEVELS: Final = {
    "debug": "Debug",
    "info": "Information",
    "warning": "Warning",
    "error": "Error",
    "critical": "Fatal",
    "exception": "Error",
}
# Our field -> CLEF's reified property.
_REIFIED: Final = {"timestamp": "@t", "exception": "@x", "trace_id": "@tr", "span_id": "@sp"}


def clef_event(record: dict[str, Any]) -> dict[str, Any]:
    """The CLEF object of one of our log records (as our JSON formatter writes them)."""
    event: dict[str, Any] = {}
    for key, value in record.items():
        if key == "event":
            event["@mt"] = str(value).replace("{", "{{").replace("}", "}}")
        elif key == "level":
            event["@l"] = _LEVELS.get(str(value), "Information")
        elif key in _REIFIED:
            event[_REIFIED[key]] = value
        else:
            # A property named with a leading @ is escaped by doubling it, as CLEF asks.
            event["@" + key if key.startswith("@") else key] = value
    return event


class SeqSink:
    """Posts batches of log lines to one Seq server."""

    name = "seq"

    def __init__(self, url: str, api_key: str | None = None, *, timeout_seconds: float = 5.0) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path.rstrip("/") + "/api/events/raw?clef"
        self._headers = {"Content-Type": CLEF_CONTENT_TYPE}
        if api_key:
            self._headers["X-Seq-ApiKey"] = api_key
        self._timeout = timeout_seconds
        self._connection: http.client.HTTPConnection | None = None

    def send(self, lines: Sequence[str]) -> None:
        """Post the lines as one CLEF batch; raises unless Seq accepted it."""
        body = b"\n".join(orjson.dumps(clef_event(orjson.loads(line)), default=str) for line in lines)
        connection = self._connection or self._connect()
        try:
            connection.request("POST", self._path, body=body, headers=self._headers)
            response = connection.getresponse()
            response.read()
        except Exception:
            self.close()  # the next batch starts on a fresh connection
            raise
        if response.status >= 300:
            raise RuntimeError(f"Seq answered {response.status} {response.reason}")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            self._connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
            )
        else:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._connection
