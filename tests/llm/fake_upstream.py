"""Local HTTP servers that speak an LLM vendor's wire format, with fault modes.

Each vendor module (`fake_openai.py`, ...) supplies a `VendorWire`: how to answer a whole request and
how to stream one, in that vendor's format. `FakeUpstream` serves it with uvicorn on 127.0.0.1 in a
background thread, records every request it receives, and applies the configured `Fault`:

- `refuse`: use `tests.ports.refused_url()` instead: nothing listens there.
- `hang`: accept the request and answer nothing for `hang_seconds`.
- `status`: answer `status` with the vendor's error body and an optional `Retry-After`.
- `malformed`: answer 200 with a body that is not the vendor's format.
- `cut`: stream the first `cut_after` chunks, then drop the connection.
- `gather`: hold each request until `gather` requests are held at once, then answer them all; after
  `hang_seconds` without that many, answer 500. Requests that run one after another never gather.

A fault applies to the next `times` requests (all requests when `times` is None).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.ports import free_port

FaultKind = Literal["none", "hang", "status", "malformed", "cut", "gather"]


@dataclass
class Fault:
    kind: FaultKind = "none"
    status: int = 500
    retry_after: str | None = None
    cut_after: int = 2
    hang_seconds: float = 30.0
    times: int | None = None
    gather: int = 2


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass
class Reply:
    """What the fake answers: `chunks` of text streamed in order (joined for a whole answer)."""

    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " fake", "."])
    prompt_tokens: int = 11
    completion_tokens: int = 5
    # Seconds to wait before the first chunk (slow first token), and between chunks of a stream.
    first_chunk_delay: float = 0.0
    chunk_delay: float = 0.0


class VendorWire(Protocol):
    """A vendor's format: routes, whole answers, stream framing and error bodies."""

    paths: list[str]

    def is_stream(self, request: RecordedRequest) -> bool: ...

    def whole(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]: ...

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        """Every byte chunk of a complete stream, terminator included."""
        ...

    def stream_media_type(self) -> str: ...

    def error(self, status: int) -> dict[str, Any]: ...


class _Cut(Exception):
    """Raised inside a streaming body to drop the connection mid-stream."""


class FakeUpstream:
    """One vendor's API on 127.0.0.1:<free port>; `requests` lists what it received."""

    def __init__(self, wire: VendorWire) -> None:
        self.wire = wire
        self.port = free_port()
        self.requests: list[RecordedRequest] = []
        self.fault = Fault()
        self.reply = Reply()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._faulted = 0
        self._held = 0
        self._gathered: asyncio.Event | None = None
        # Streams whose client went away before the last chunk.
        self.abandoned = 0

    @property
    def held(self) -> int:
        """How many requests a `gather` fault holds right now."""
        return self._held if self._gathered is not None and not self._gathered.is_set() else 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_fault(self, fault: Fault) -> None:
        self.fault = fault
        self._faulted = 0
        self._held = 0
        self._gathered = None

    def _active_fault(self) -> Fault:
        if self.fault.kind == "none":
            return self.fault
        if self.fault.times is not None and self._faulted >= self.fault.times:
            return Fault()
        self._faulted += 1
        return self.fault

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={key.lower(): value for key, value in request.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        self.requests.append(recorded)
        fault = self._active_fault()
        if fault.kind == "hang":
            await asyncio.sleep(fault.hang_seconds)
        if fault.kind == "gather" and not await self._gather(fault):
            return JSONResponse(self.wire.error(500), status_code=500)
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return JSONResponse(self.wire.error(fault.status), status_code=fault.status, headers=headers)
        if fault.kind == "malformed":
            return Response(
                b"<html>upstream proxy error</html>", status_code=200, media_type="application/json"
            )
        if not self.wire.is_stream(recorded):
            if self.reply.first_chunk_delay:
                await asyncio.sleep(self.reply.first_chunk_delay)
            return JSONResponse(self.wire.whole(recorded, self.reply))
        chunks = self.wire.stream_chunks(recorded, self.reply)
        limit = fault.cut_after if fault.kind == "cut" else None
        return StreamingResponse(self._stream(chunks, limit), media_type=self.wire.stream_media_type())

    async def _gather(self, fault: Fault) -> bool:
        """Wait until `fault.gather` requests wait together; False when they never do."""
        if self._gathered is None:  # made on the server's own loop
            self._gathered = asyncio.Event()
        self._held += 1
        if self._held >= fault.gather:
            self._gathered.set()
        try:
            await asyncio.wait_for(self._gathered.wait(), fault.hang_seconds)
        except TimeoutError:
            return False
        return True

    async def _stream(self, chunks: list[bytes], limit: int | None) -> AsyncIterator[bytes]:
        finished = False
        try:
            if self.reply.first_chunk_delay:
                await asyncio.sleep(self.reply.first_chunk_delay)
            for position, chunk in enumerate(chunks):
                if limit is not None and position >= limit:
                    finished = True
                    raise _Cut("the fake drops the connection mid-stream")
                yield chunk
                await asyncio.sleep(self.reply.chunk_delay)
            finished = True
        finally:
            if not finished:
                self.abandoned += 1

    def _app(self) -> Starlette:
        routes = [Route(path, self._handle, methods=["POST", "GET"]) for path in self.wire.paths]
        return Starlette(routes=routes)

    def start(self) -> FakeUpstream:
        config = uvicorn.Config(
            self._app(), host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            self._thread.join(timeout=10)
        self._server = None


UpstreamFactory = Callable[[], FakeUpstream]
