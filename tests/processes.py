"""Real processes a test starts: wait until one answers over HTTP (`cli.common.stop_child` stops them)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_until_answers(process: subprocess.Popen[bytes], url: str, log: Path, *, timeout: float = 90) -> None:
    """Until GET `url` answers 200; fails with the process's log when it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout:g} s:\n{log.read_text()}")
