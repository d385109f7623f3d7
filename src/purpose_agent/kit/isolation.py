"""Calls that may run away, each in a child process of its own that is killed when its caller gives up.

A thread cannot be stopped: a document parse that outlived its job's timeout (a PDF crafted to loop,
a decompression bomb) kept its parsing thread busy for good, and a few such documents left the
worker unable to parse anything. Here each call runs in a child process, so a caller that is
cancelled (its timeout) kills that child, and the slot is free again at once. A child that dies
(the OOM killer, a crash in a C extension) costs its call a `ChildDied`, never the worker.

The children are forked from a forkserver: a small process started once, single-threaded, with
the modules in `preload` already imported, so a fork costs milliseconds and copies none of the
caller's threads (the embedder's, the database pool's) or its event loop, as a plain fork would.
The call and its arguments go to the child by pickling, and so does its result or its exception.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, ParamSpec, TypeVar

from purpose_agent.kit.executor import ExecutorBusy

P = ParamSpec("P")
T = TypeVar("T")


class ChildDied(Exception):
    """The child process ended without an answer (killed, or crashed)."""


class ProcessRunner:
    """Calls in child processes: `processes` at once at most and `max_queued` waiting (past them,
    `ExecutorBusy` at once); a call whose caller is cancelled has its process killed."""

    def __init__(self, name: str, *, processes: int, max_queued: int, preload: Sequence[str] = ()) -> None:
        if processes < 1 or max_queued < 0:
            raise ValueError("a runner needs a process, and a queue bound of 0 or more")
        self.name = name
        self.capacity = processes + max_queued
        self._context = multiprocessing.get_context("forkserver")
        # The main module too (multiprocessing's own default): imported once in the forkserver rather
        # than again in every child.
        self._context.set_forkserver_preload(["__main__", *preload])
        self._slots = asyncio.Semaphore(processes)
        # One thread per running child, waiting for its answer off the event loop.
        self._waiters = ThreadPoolExecutor(max_workers=processes, thread_name_prefix=f"{name}-wait")
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Calls running or waiting right now."""
        return self._admitted

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`function(*args, **kwargs)` in a child process; its exception is raised here as it was there."""
        if self._admitted >= self.capacity:
            raise ExecutorBusy(
                f"the {self.name} processes are full ({self.capacity} calls running or waiting)"
            )
        self._admitted += 1
        try:
            async with self._slots:
                return await self._in_child(function, args, kwargs)
        finally:
            self._admitted -= 1

    async def _in_child(self, function: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        receiving, sending = self._context.Pipe(duplex=False)
        child = self._context.Process(
            target=_answer, args=(sending, function, args, kwargs), name=self.name, daemon=True
        )
        child.start()
        sending.close()  # the child holds its own end: its exit is our end-of-file
        waiting = asyncio.get_running_loop().run_in_executor(self._waiters, _receive, receiving, child)
        try:
            answer = await asyncio.shield(waiting)
        except asyncio.CancelledError:
            child.kill()  # the waiting thread sees end-of-file, closes the pipe and reaps the child
            raise
        if answer is None:
            raise ChildDied(f"the {self.name} process ended without an answer (exit code {child.exitcode})")
        succeeded, value = answer
        if not succeeded:
            raise value
        result: T = value
        return result

    def shutdown(self) -> None:
        """Stop taking calls; running children finish."""
        self._waiters.shutdown(wait=False, cancel_futures=True)


def _answer(
    sending: Connection, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """In the child: run the call and send back (True, result) or (False, exception)."""
    try:
        answer: tuple[bool, Any] = (True, function(*args, **kwargs))
    except Exception as exc:
        answer = (False, exc)
    try:
        sending.send(answer)
    except Exception as exc:  # the result or the exception does not pickle
        sending.send((False, RuntimeError(f"the answer could not be sent back: {exc!r}")))
    finally:
        sending.close()


def _receive(receiving: Connection, child: BaseProcess) -> tuple[bool, Any] | None:
    """In a waiting thread: the child's answer, or None when it ended without one; then reap it."""
    try:
        answer: tuple[bool, Any] = receiving.recv()
        return answer
    except EOFError:
        return None
    finally:
        receiving.close()
        child.join()
