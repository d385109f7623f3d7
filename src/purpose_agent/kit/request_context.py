"""The outermost middleware: request id, log context, the access line, the HTTP metrics, and the last
guard for bugs.

It is plain ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task per request and
breaks streaming responses. It sits outside every other middleware so that even their failures
leave as a problem carrying the request id.

The access line carries the request's stage timings (`kit.timings`); with `server_timing` the response
carries them too, as a Server-Timing header. A header goes out before the body, so a streamed
response's header holds only the stages done before its first byte (auth, history, retrieval); the
access line, written at the end, has them all.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from purpose_agent.kit.http_metrics import HttpMetrics
from purpose_agent.kit.problems import problem_response, scope_problem
from purpose_agent.kit.timings import recording, stop_recording

REQUEST_ID_HEADER = "X-Request-ID"
SERVER_TIMING_HEADER = "Server-Timing"
# Letters, digits and a few separators: safe to echo in a header and to write in a log line.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

_access_log = structlog.get_logger("purpose_agent.access")
_error_log = structlog.get_logger("purpose_agent.errors")

INTERNAL_ERROR_DETAIL = "An unexpected error occurred. Quote the request_id when you report it."


def accepted_request_id(candidate: str | None) -> str | None:
    """The client's request id when it is safe to echo and log, else None."""
    if candidate and _SAFE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return None


def new_request_id() -> str:
    """A fresh random request id."""
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: HttpMetrics | None = None, server_timing: bool = False
    ) -> None:
        self.app = app
        self.metrics = metrics or HttpMetrics()
        self.server_timing = server_timing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = accepted_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER)) or new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        # Routing into a mount changes it: what it was says which mount served the request.
        root_path = scope.get("root_path", "")
        self.metrics.started()
        timings, recorder = recording()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                if self.server_timing:
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    headers[SERVER_TIMING_HEADER] = timings.server_timing(elapsed_ms)
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_request_id)
            except Exception:
                _error_log.exception("unhandled_error", method=scope["method"], path=scope["path"])
                if not response_started:
                    body = scope_problem(scope, 500, INTERNAL_ERROR_DETAIL)
                    await problem_response(body)(scope, receive, send_with_request_id)
            finally:
                seconds = time.perf_counter() - started
                self.metrics.finished(scope, status, seconds, root_path)
                stop_recording(recorder)
                principal = state.get("principal")
                stages = timings.milliseconds()
                _access_log.info(
                    "request",
                    method=scope["method"],
                    # The path only: query strings may carry secrets.
                    path=scope["path"],
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                    **({"principal": principal} if principal else {}),
                    **({"timings_ms": stages} if stages else {}),
                )
