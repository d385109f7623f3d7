"""A supervised child: started again while it fails, left alone when it stops cleanly, stopped on request.
Real child processes (the Python interpreter), with pauses shortened from seconds to milliseconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from purpose_agent.kit.backoff import BackoffPolicy
from purpose_agent.kit.supervisor import Supervised
from tests.conftest import LogCapture

QUICK = BackoffPolicy(base_seconds=0.05, cap_seconds=0.2)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_child_that_fails_is_started_again_each_time_with_its_exit_logged(
    tmp_path: Path, logs: LogCapture
) -> None:
    starts = tmp_path / "starts"
    fails = _python(f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)")
    child = Supervised("flaky", fails, restart=QUICK)
    child.start()

    def exited() -> list[dict[str, object]]:
        return [record for record in logs.records() if record["event"] == "process_exited"]

    try:
        # Three exits logged, not three starts: stopped between its write and its exit, a child would
        # be ended by the stop rather than by its failure.
        _until(lambda: len(exited()) >= 3)
    finally:
        child.stop()
    exits = exited()
    assert len(starts.read_text()) >= 3
    assert {(record["process"], record["exit_code"]) for record in exits} == {("flaky", 3)}
    assert [record["restart_seconds"] for record in exits[:3]] == [0.05, 0.1, 0.2], "doubling, capped"
    assert child.restarts >= 2


def test_a_child_that_stops_cleanly_is_left_stopped(tmp_path: Path, logs: LogCapture) -> None:
    starts = tmp_path / "starts"
    child = Supervised("done", _python(f"open({str(starts)!r}, 'a').write('x')"), restart=QUICK)
    child.start()
    _until(lambda: any(record["event"] == "process_stopped" for record in logs.records()))
    time.sleep(0.3)  # longer than any restart pause
    child.stop()
    assert starts.read_text() == "x"
    assert child.restarts == 0


def test_stop_ends_a_running_child_and_it_is_not_started_again(logs: LogCapture) -> None:
    child = Supervised("sleeper", _python("import time; time.sleep(600)"), restart=QUICK)
    child.start()
    pid = child.pid
    assert pid is not None
    child.stop()
    assert not Path(f"/proc/{pid}").exists(), "stopped and reaped"
    time.sleep(0.3)
    assert child.restarts == 0
    assert not [record for record in logs.records() if record["event"] == "process_exited"]
