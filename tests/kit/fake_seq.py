"""A local server speaking Seq's raw ingestion API: `POST /api/events/raw?clef` with newline-delimited
CLEF events, answered 201 as Seq does. It keeps each batch with its headers, and can hang (a Seq that
is slow or stuck) instead of answering.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_http import LocalServer, QuietHandler


@dataclass(frozen=True, slots=True)
class Batch:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw.decode().splitlines() if line.strip()]


class FakeSeq(LocalServer):
    def __init__(self, *, hang_seconds: float = 0.0) -> None:
        self.batches: list[Batch] = []
        self.hang_seconds = hang_seconds
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return self.base_url

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event for batch in self.batches for event in batch.events]

    def wait_for_event(self, template: str, timeout: float = 10.0) -> dict[str, Any]:
        """The first event whose message template is `template`, once it has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if event.get("@mt") == template:
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no event {template!r} in {timeout} s; got {self.events()}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        seq = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Seq

            def do_POST(self) -> None:
                body = self.body()
                if seq.hang_seconds:
                    time.sleep(seq.hang_seconds)
                    return
                with seq._lock:
                    seq.batches.append(Batch(self.path, dict(self.headers.items()), body))
                self.answer(201, "application/json", b'{"MinimumLevelAccepted":null}')

        return Handler
