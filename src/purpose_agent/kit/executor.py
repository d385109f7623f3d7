"""Bounded thread pools of their own for CPU-bound work: never the event loop, never the shared pool.

asyncio's default executor is shared by everything that calls `to_thread` (and by libraries that
resolve names or read files), so a burst of one kind of CPU work delays all the others, and its
queue has no bound. Each kind of CPU work here (query embedding, the built-in model, document
parsing, password hashing) gets its own few threads and a bound on how many calls may wait;
past it, `ExecutorBusy` is raised at once instead of a queue that grows without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ExecutorBusy(Exception):
    """Every thread of the pool is busy and its queue is full."""


class BoundedExecutor:
    """`workers` threads named `name`, and at most `max_queued` calls waiting for one of them."""

    def __init__(self, name: str, *, workers: int, max_queued: int) -> None:
        if workers < 1 or max_queued < 0:
            raise ValueError("an executor needs a worker, and a queue bound of 0 or more")
        self.name = name
        self.capacity = workers + max_queued
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Calls running or waiting right now."""
        return self._admitted

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`function(*args, **kwargs)` on one of this pool's threads; `ExecutorBusy` when it is full.

        Cancelling the caller does not stop a call already running (pass it a flag to look at); the call
        keeps its place in the bound until it ends."""
        return await self.submit(function, *args, **kwargs)

    def submit(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
        """As `run`, without waiting: the call's future (`ExecutorBusy` at once when the pool is full)."""
        if self._admitted >= self.capacity:
            raise ExecutorBusy(f"the {self.name} pool is full ({self.capacity} calls running or waiting)")
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # log context follows the work, as with to_thread
        submitted = self._pool.submit(functools.partial(context.run, function, *args, **kwargs))
        self._admitted += 1

        def release(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody counts any more
                loop.call_soon_threadsafe(self._release)

        submitted.add_done_callback(release)
        return asyncio.wrap_future(submitted, loop=loop)

    def _release(self) -> None:
        self._admitted -= 1

    def shutdown(self) -> None:
        """Stop taking work; running calls finish in their threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
