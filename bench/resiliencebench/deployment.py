"""The deployment the resilience bench breaks: its own PostgreSQL, Redis and fake LLM vendor, each a real
process or server that can be stopped, killed or made to hang, and the `serve` and `worker` processes.

- PostgreSQL: an embedded server in `.data/bench-resilience` on a free port (stop/start by the bench).
- Redis: a `redis-server` of the bench's own on a free port, reached through a `FaultProxy`, so that it
  can be killed (SIGKILL by pid) and restarted, or made to hang (the proxy accepts and never answers).
- The LLM: the tests' fake OpenAI server (`tests/llm/fake_upstream.py`: 429, 500, malformed, hang,
  cut stream), also behind a `FaultProxy` for the refused connection.
- The API and the worker: `purpose-agent serve` and `worker`, deployed by `tests.hostile.service`
  (the manual, the kettle persona, an admin and a user key), answering through the fake vendor.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import psycopg

from purpose_agent.cli.common import stop_child
from purpose_agent.db.embedded import EmbeddedPostgres
from tests.hostile.service import Service, running_service, start_process
from tests.llm.fake_openai import OpenAIWire
from tests.llm.fake_upstream import FakeUpstream
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ProxyMode = Literal["pass", "hang", "refuse"]


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of `target`: `pass` forwards, `hang` accepts connections and
    answers nothing (a server that stopped responding), `refuse` stops listening (nothing there)."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.mode: ProxyMode = "pass"
        self._listener: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._open: set[socket.socket] = set()  # relayed connections, both ends
        self._stop = threading.Event()
        self._listen()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def set_mode(self, mode: ProxyMode) -> None:
        """Switch what new and open connections meet; `pass` again also drops the held ones."""
        self.mode = mode
        if mode == "refuse":
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            # Connections a client pooled meanwhile are dropped too: nothing answers there any more.
            for relayed in list(self._open):
                with contextlib.suppress(OSError):
                    relayed.shutdown(socket.SHUT_RDWR)
        if mode != "refuse" and self._listener is None:
            self._listen()
        if mode == "pass":
            for held in self._held:
                with contextlib.suppress(OSError):
                    held.close()
            self._held.clear()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(512)
        listener.settimeout(0.2)
        self._listener = listener

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            if self.mode == "hang":
                self._held.append(client)
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
        except OSError:
            client.close()
            return
        sockets = [client, upstream]
        self._open.update(sockets)
        try:
            while not self._stop.is_set():
                if self.mode == "hang":
                    # Mid-connection too: the bytes stop flowing, the connection stays open.
                    self._held += sockets
                    return
                readable, _, _ = select.select(sockets, [], [], 0.2)
                for source in readable:
                    data = source.recv(65_536)
                    if not data:
                        raise ConnectionError
                    (upstream if source is client else client).sendall(data)
        except OSError:
            pass
        for each in sockets:
            self._open.discard(each)
            if each not in self._held:
                each.close()


class Redis:
    """A redis-server of the bench's own, killed and restarted by its pid."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is needed (apt-get install redis-server)")
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


@dataclass
class Deployment:
    service: Service
    postgres: EmbeddedPostgres
    redis: Redis
    redis_proxy: FaultProxy
    upstream: FakeUpstream
    upstream_proxy: FaultProxy
    api_port: int

    def client(self, key: str | None = None, timeout: float = 30) -> httpx.Client:
        return self.service.client(key, timeout)

    def sql(self, statement: str, *args: object) -> list[tuple[object, ...]]:
        """Rows of a statement on the deployment's database."""
        with psycopg.connect(self.service.database_url, connect_timeout=5) as connection:
            return list(connection.execute(statement, args).fetchall())

    def kill_api(self) -> None:
        os.kill(self.service.api.pid, signal.SIGKILL)
        self.service.api.wait()

    def restart_api(self) -> None:
        """A new `serve` on the same port, once the old one is gone."""
        self.service.api = start_process(
            self.service.workdir, self.service.env, "api", "serve", "--port", str(self.api_port)
        )
        wait_ready(f"{self.service.base_url}/health", self.service.api)

    def kill_worker(self) -> None:
        os.kill(self.service.worker.pid, signal.SIGKILL)
        self.service.worker.wait()

    def restart_worker(self) -> None:
        self.service.worker = start_process(self.service.workdir, self.service.env, "worker", "worker")


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def deployed(workdir: Path) -> Iterator[Deployment]:
    """Everything up and seeded; everything stopped (by pid) at the end, also on error."""
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        postgres = EmbeddedPostgres(ROOT / ".data" / "bench-resilience", free_port())
        postgres.start()
        stack.callback(postgres.stop)
        redis = Redis(workdir)
        redis.start()
        stack.callback(redis.kill)
        redis_proxy = FaultProxy(redis.port)
        stack.callback(redis_proxy.stop)
        upstream = FakeUpstream(OpenAIWire()).start()
        stack.callback(upstream.stop)
        upstream_proxy = FaultProxy(upstream.port)
        stack.callback(upstream_proxy.stop)
        settings = {
            "OPENAI_API_KEY": "sk-bench-0001",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_proxy.port}/v1",
            "OPENAI_MODEL": "gpt-4o",
            "OPENAI_MAX_RETRIES": "0",
            "LLM_DEADLINE_SECONDS": "8",
            "DATABASE_POOL_TIMEOUT_SECONDS": "2",
            "DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
            "WORKER_HEARTBEAT_SECONDS": "1",
            "WORKER_STALLED_AFTER_SECONDS": "4",
            "WORKER_STALLED_CHECK_SECONDS": "2",
            "INGEST_RETRY_BACKOFF_SECONDS": "1",
        }
        admin_url = postgres.url("postgres").replace("postgresql://", "postgresql+psycopg://")
        service = stack.enter_context(
            running_service(workdir, admin_url, f"redis://127.0.0.1:{redis_proxy.port}/0", **settings)
        )
        # The processes are the deployment's from here: restarted ones are stopped too.
        stack.callback(lambda: stop_child(service.worker))
        stack.callback(lambda: stop_child(service.api))
        port = int(service.base_url.rsplit(":", 1)[1])
        yield Deployment(service, postgres, redis, redis_proxy, upstream, upstream_proxy, port)
