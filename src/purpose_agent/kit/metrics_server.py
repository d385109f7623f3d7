"""A process's metrics on a port of their own, for a process that serves no HTTP otherwise (the worker).

A small threaded HTTP server (the standard library's WSGI server, as prometheus-client's own) in a
daemon thread: a scrape never waits on the process's event loop, however busy its jobs keep it.
`GET /metrics` (or `/`) answers under the same rule as the API's (`kit.metrics_access`); a refused
scrape gets the same 403 problem.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson

from purpose_agent.kit.metrics_access import FORBIDDEN_SLUG, MetricsAccess
from purpose_agent.kit.metrics_exposition import CONTENT_TYPE, MetricsExposition
from purpose_agent.kit.problems import PROBLEM_CONTENT_TYPE, problem_body

PATHS = frozenset({"/metrics", "/"})
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class MetricsServerError(Exception):
    """The server cannot listen where it was told to; the message names the setting."""


class MetricsServer:
    """Serves `exposition` on host:port until `close()`."""

    def __init__(
        self,
        exposition: MetricsExposition,
        access: MetricsAccess,
        *,
        host: str,
        port: int,
        settings_hint: str = "WORKER_METRICS_HOST and WORKER_METRICS_PORT",
    ) -> None:
        self.exposition = exposition
        self.access = access
        self.host = host
        self.port = port
        self.settings_hint = settings_hint
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        """Listen and serve in a thread; `MetricsServerError` when the address cannot be had."""
        try:
            family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0][0]
            server_class = type("_Server", (_ThreadingServer,), {"address_family": family})
            self._server = make_server(self.host, self.port, self._app, server_class, _QuietHandler)
        except OSError as exc:
            raise MetricsServerError(
                f"cannot serve metrics on {self.host}:{self.port} ({exc.strerror or exc}); "
                f"change {self.settings_hint} (port 0: no metrics)"
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening and wait for the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in PATHS:
            return _problem(start_response, 404, "Not Found", "Metrics are at /metrics.", path, None)
        allowed = self.access.allows(
            client=environ.get("REMOTE_ADDR"),
            forwarded="HTTP_X_FORWARDED_FOR" in environ or "HTTP_FORWARDED" in environ,
            authorization=environ.get("HTTP_AUTHORIZATION"),
        )
        if not allowed:
            return _problem(start_response, 403, "Forbidden", self.access.refusal(), path, FORBIDDEN_SLUG)
        body = self.exposition.render()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]


def _problem(
    start_response: StartResponse, status: int, title: str, detail: str, path: str, slug: str | None
) -> list[bytes]:
    body = orjson.dumps(
        problem_body(status=status, title=title, detail=detail, instance=path, request_id="", slug=slug)
    )
    headers = [("Content-Type", PROBLEM_CONTENT_TYPE), ("Content-Length", str(len(body)))]
    start_response(f"{status} {title}", headers)
    return [body]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # A scrape every few seconds would fill stderr; the worker's own logs say what matters.
        return None
