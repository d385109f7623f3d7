"""The real app served by uvicorn on 127.0.0.1 in a thread of its own, reached over real connections.

Unlike the in-process client, nothing is shared with the test: the app has its own event loop,
engine and pool, so lock waits, pool exhaustion and overlapping requests behave as in production.
"""

from __future__ import annotations

import threading
import time

import uvicorn

from purpose_agent.app import create_app
from purpose_agent.settings import Settings
from tests.ports import free_port


class LiveServer:
    """`create_app(settings)` listening on a free port until `stop()`."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
