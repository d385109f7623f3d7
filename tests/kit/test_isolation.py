"""Calls in child processes: answers and exceptions come back, a call given up on has its process
killed (a thread could not be stopped), a child that dies costs its call an error, the bound holds."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from purpose_agent.kit.executor import ExecutorBusy
from purpose_agent.kit.isolation import ChildDied, ProcessRunner


def _write_pid_then_hang(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(600)


def _refuse(text: str) -> None:
    raise ValueError(f"bad input: {text}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_call_runs_in_another_process_and_brings_back_its_answer_or_its_exception() -> None:
    runner = ProcessRunner("test", processes=1, max_queued=0)
    assert await runner.run(os.getpid) != os.getpid()
    with pytest.raises(ValueError, match=r"^bad input: x$"):
        await runner.run(_refuse, "x")
    assert runner.admitted == 0


async def test_a_call_given_up_on_has_its_process_killed_and_its_place_freed(tmp_path: Path) -> None:
    runner = ProcessRunner("test", processes=1, max_queued=0)
    pid_file = tmp_path / "pid"
    call = asyncio.create_task(runner.run(_write_pid_then_hang, str(pid_file)))
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        await asyncio.sleep(0.05)
    child = int(pid_file.read_text())

    call.cancel()  # what its job's timeout does
    with pytest.raises(asyncio.CancelledError):
        await call
    deadline = time.monotonic() + 5
    while _alive(child):
        assert time.monotonic() < deadline, "the hung child outlived its caller"
        await asyncio.sleep(0.05)
    assert runner.admitted == 0
    assert await runner.run(sum, [2, 3]) == 5, "its one place is free again"


async def test_a_child_that_dies_costs_its_call_an_error_and_nothing_else() -> None:
    runner = ProcessRunner("test", processes=1, max_queued=0)
    with pytest.raises(ChildDied, match=r"exit code 3"):
        await runner.run(os._exit, 3)
    assert await runner.run(sum, [1, 1]) == 2


async def test_calls_past_the_running_and_waiting_bound_are_refused_at_once() -> None:
    runner = ProcessRunner("test", processes=1, max_queued=1)
    running = asyncio.create_task(runner.run(time.sleep, 1))
    waiting = asyncio.create_task(runner.run(time.sleep, 0))
    await asyncio.sleep(0)
    with pytest.raises(ExecutorBusy, match="the test processes are full"):
        await runner.run(sum, [1, 1])
    await asyncio.gather(running, waiting)
