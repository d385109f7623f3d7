"""Servers that fail for the tests: a private redis-server that can be stopped and started again, and
a "black hole" that accepts connections and never answers (a Redis or an HTTP service that hangs, or
a network that drops its packets)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis

from tests.ports import free_port


class PrivateRedis:
    """A redis-server of one test's own on a fixed port, that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        self.process = subprocess.Popen(
            [*command, "--appendonly", "no"], cwd=self.workdir, stdout=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not answer"
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def keys(self, pattern: str) -> list[bytes]:
        """The keys matching `pattern` on this server right now."""
        with redis.Redis.from_url(self.url, socket_timeout=1) as client:
            found: list[bytes] = client.keys(pattern)
            return found


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


@asynccontextmanager
async def black_hole() -> AsyncIterator[str]:
    """`127.0.0.1:PORT`, where a server on the test's event loop accepts connections and never answers."""

    async def accept_and_stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    silent = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        silent.close()
        await silent.wait_closed()
