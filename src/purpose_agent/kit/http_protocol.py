"""uvicorn's HTTP protocol with bounds on what one connection may hold before the app answers it.

uvicorn (httptools) starts its keep-alive timer only once a response is sent: a client that connects
and sends nothing, or sends its headers a byte every few seconds (slow loris), holds its connection,
its buffers and a file descriptor for as long as it likes; and llhttp accepts a request head of any
size, which uvicorn keeps in memory header by header. The protocol here adds three bounds:

- the request line and headers must arrive within `head_timeout` seconds of the connection (or of the
  first byte of a later request on it): otherwise `408` and the connection is closed;
- they may take `max_head_bytes` at most: otherwise `431` and the connection is closed;
- a request body that stops arriving for `body_idle_timeout` seconds closes the connection (the app
  sees the client leave, as when it hangs up).

The refusals are problem documents written straight to the socket: no request exists yet for the app.
So is uvicorn's own 400 for bytes that are not HTTP, which it sends as plain text.
"""

from __future__ import annotations

import asyncio
import functools
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from purpose_agent.kit.problems import PROBLEM_CONTENT_TYPE, problem_body, status_title


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    head_timeout: float = 10.0
    body_idle_timeout: float = 30.0
    max_head_bytes: int = 65_536


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a deadline and a size bound on request heads and an idle bound on bodies."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._in_head = False
        self._head_bytes = 0
        self._head_timer: TimerHandle | None = None
        self._body_timer: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head and (self.cycle is None or self.cycle.response_complete):
            self._start_head()  # the first bytes of the next request on a kept-alive connection
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = self.loop.call_later(self.limits.body_idle_timeout, self._body_stalled)
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            # Counted once parsed: a chunk that completes the head also carries body bytes.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse(431, f"The request line and headers exceed {self.limits.max_head_bytes} bytes.")

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._body_timer = self.loop.call_later(self.limits.body_idle_timeout, self._body_stalled)

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes that are not HTTP, as a problem rather than plain text."""
        self._refuse(400, "The request is not valid HTTP.")

    def _start_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_late)

    def _head_late(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(
                408, f"The request line and headers did not arrive within {self.limits.head_timeout:g} s."
            )

    def _body_stalled(self) -> None:
        self._body_timer = None
        if not self.transport.is_closing():
            self.logger.info("Request body stalled for %gs; closing.", self.limits.body_idle_timeout)
            self.transport.close()

    def _refuse(self, status: int, detail: str) -> None:
        self._cancel_timers()
        body = orjson.dumps(
            problem_body(status=status, title=status_title(status), detail=detail, instance="", request_id="")
        )
        head = (
            f"HTTP/1.1 {status} {status_title(status)}\r\ncontent-type: {PROBLEM_CONTENT_TYPE}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None


def guarded_http(limits: ConnectionLimits) -> Any:
    """What uvicorn's `http` option takes to build a `GuardedHttpProtocol` per connection: a partial,
    which (unlike a class made on the fly) survives the pickling of API_WORKERS' spawned processes."""
    return functools.partial(GuardedHttpProtocol, limits=limits)
