"""Refuse request bodies over a size limit with 413, whether or not the client declared a length.

One limit holds for every route but those given their own (uploads take far more than JSON).

A declared `Content-Length` over the limit is refused before the body is read. A chunked body is
counted as it arrives; crossing the limit raises an HTTP 413 from `receive`, which FastAPI passes
through its body parsing unchanged, so it still leaves as a problem.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from purpose_agent.kit.problems import problem_response, scope_problem


def too_large_detail(max_bytes: int) -> str:
    """The detail of a 413 problem."""
    return f"The request body is larger than the limit of {max_bytes} bytes."


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        max_bytes = self.per_path.get(scope["path"], self.max_bytes)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            body = scope_problem(scope, 413, too_large_detail(max_bytes))
            await problem_response(body, headers={"Connection": "close"})(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(413, detail=too_large_detail(max_bytes))
            return message

        await self.app(scope, counting_receive, send)
