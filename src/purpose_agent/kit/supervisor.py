"""A child process kept running: started again, with backoff, whenever it fails.

`purpose-agent up` (make run) runs the worker beside the API; a worker that crashed or was killed
(an exception, the OOM killer, `kill -9`) used to stay dead while the API kept accepting uploads
that then waited in the queue forever. A `Supervised` child that fails (a non-zero exit, or killed
by any signal but SIGINT or SIGTERM) is started again after 1 s, then 2, 4 ... up to 30 s while
it keeps failing (the pause starts over once it has run a minute), each exit and start logged. A
child that stops cleanly (exit 0, SIGINT or SIGTERM: Ctrl-C in the terminal reaches the whole
process group) is left stopped, as systemd's `Restart=on-failure` does.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Sequence

import structlog

from purpose_agent.kit.backoff import BackoffPolicy

log = structlog.get_logger("purpose_agent.supervisor")

# Exits that a person or an orchestrator asked for.
CLEAN_EXITS = frozenset({0, -signal.SIGINT, -signal.SIGTERM})
RESTART = BackoffPolicy(base_seconds=1.0, cap_seconds=30.0)
# A child that ran this long before failing is restarted after the shortest pause again.
HEALTHY_SECONDS = 60.0
STOP_GRACE_SECONDS = 30.0


def stop_process(process: subprocess.Popen[bytes], grace_seconds: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM, then SIGKILL if it has not exited after `grace_seconds`."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Supervised:
    """`command` run as a child process named `name`, restarted when it fails, until `stop()`."""

    def __init__(self, name: str, command: Sequence[str], *, restart: BackoffPolicy = RESTART) -> None:
        self.name = name
        self.command = list(command)
        self.restart = restart
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a stop and a restart never cross
        self._watcher = threading.Thread(target=self._watch, name=f"supervise-{name}", daemon=True)

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the child, and watch it from a thread of its own."""
        with self._lock:
            self._process = subprocess.Popen(self.command)
        self._watcher.start()

    def stop(self) -> None:
        """Stop watching, then stop the child (SIGTERM, SIGKILL after a grace period)."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None:
            stop_process(process)
        if self._watcher.is_alive():
            self._watcher.join(timeout=5)

    def _watch(self) -> None:
        failures = 0
        while True:
            process = self._process
            assert process is not None
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            if code in CLEAN_EXITS:
                log.info("process_stopped", process=self.name, pid=process.pid, exit_code=code)
                return
            if time.monotonic() - started >= HEALTHY_SECONDS:
                failures = 0
            delay = self.restart.bound(failures)
            failures += 1
            log.warning(
                "process_exited", process=self.name, pid=process.pid, exit_code=code, restart_seconds=delay
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._process = subprocess.Popen(self.command)
                self.restarts += 1
            log.info("process_restarted", process=self.name, pid=self._process.pid, restarts=self.restarts)
