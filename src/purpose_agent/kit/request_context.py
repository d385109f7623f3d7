"""The outermost middleware: request id, log context, the access line, the HTTP metrics, and the last
guard for bugs.

It is plain ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task per request and
breaks streaming responses. It sits outside every other middleware so that even their failures
leave as a problem carrying the request id.
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

REQUEST_ID_HEADER = "X-Request-ID"
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
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics or HttpMetrics()

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

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
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
                principal = state.get("principal")
                _access_log.info(
                    "request",
                    method=scope["method"],
                    # The path only: query strings may carry secrets.
                    path=scope["path"],
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                    **({"principal": principal} if principal else {}),
                )
