"""Stop working for a client that has gone: cancel a request's handling when its connection closes.

Starlette cancels a streamed response when its client disconnects, but not an ordinary one: a
client that gave up on a slow answer (a timeout, a closed tab) would still have its model call run to
the end, tokens paid for and the local model kept busy. For the paths given, this middleware runs
the request as a task of its own and, once the body has been read, listens for the disconnect; if it
comes before the response is complete, the task is cancelled (the model call with it, and nothing is
stored). Our own code: no library does this for any ASGI app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("purpose_agent.access")

DISCONNECT: Message = {"type": "http.disconnect"}
# Nobody reads it; it keeps the server and the access log from recording a failure of ours.
CLIENT_CLOSED_REQUEST = 499


class CancelOnDisconnectMiddleware:
    def __init__(self, app: ASGIApp, *, paths: Collection[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        body_read = asyncio.Event()
        gone = asyncio.Event()
        started = complete = False

        async def app_receive() -> Message:
            if not body_read.is_set():
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    body_read.set()
                if message["type"] == "http.disconnect":
                    gone.set()
                return message
            # The body is read: what the app may still hear is the disconnect, which the watcher owns.
            await gone.wait()
            return DISCONNECT

        async def app_send(message: Message) -> None:
            nonlocal started, complete
            started = started or message["type"] == "http.response.start"
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True
            await send(message)

        handling = asyncio.ensure_future(self.app(scope, app_receive, app_send))

        async def watch() -> None:
            await body_read.wait()
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            if not complete and not handling.done():
                log.info("client_gone", path=scope["path"], detail="the request's work was stopped")
                handling.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            await handling
        except asyncio.CancelledError:
            if not gone.is_set():
                raise  # cancelled from outside (shutdown), not by the client leaving
            if not started:
                await send({"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST, "headers": []})
                await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
