"""Where a request spends its time, by stage (auth, retrieval, model, write), for its access line and
its Server-Timing header.

The request's recorder sits in a context variable, so code deep in a service marks its stage with
`@timed("retrieval")` or `stage("model")` without anything passed down. With no recorder (a worker,
a command, a test calling a service), marking a stage costs one context-variable read. A stage
entered twice (two searches) counts the sum; a stage still open when the request ends (a stream
the client left) counts up to then.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Final, ParamSpec, TypeVar

__all__ = ["Stage", "StageTimings", "recording", "stage", "stop_recording", "timed"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class StageTimings:
    """The stages of one request, in the order they first began, with their milliseconds."""

    __slots__ = ("_done", "_open", "_opened")

    def __init__(self) -> None:
        self._done: dict[str, float] = {}
        self._open: dict[int, tuple[str, float]] = {}
        self._opened = 0

    def milliseconds(self) -> dict[str, float]:
        """Each stage's time so far, rounded to 0.01 ms; open stages count up to now."""
        totals = dict(self._done)
        now = time.perf_counter()
        for name, started in self._open.values():
            totals[name] = totals.get(name, 0.0) + (now - started) * 1000
        return {name: round(ms, 2) for name, ms in totals.items()}

    def server_timing(self, total_ms: float) -> str:
        """The Server-Timing header value: each stage, then `total` (the time until the header)."""
        metrics = [f"{name};dur={ms}" for name, ms in self.milliseconds().items()]
        return ", ".join([*metrics, f"total;dur={round(total_ms, 2)}"])

    def _begin(self, name: str) -> int:
        key = self._opened
        self._opened += 1
        self._open[key] = (name, time.perf_counter())
        self._done.setdefault(name, 0.0)  # keeps the order in which stages began
        return key

    def _end(self, key: int) -> None:
        opened = self._open.pop(key, None)
        if opened is not None:
            name, started = opened
            self._done[name] += (time.perf_counter() - started) * 1000


_current: Final[ContextVar[StageTimings | None]] = ContextVar("purpose_agent_stage_timings", default=None)


class Stage:
    """One stage being timed: a context manager, or ended by hand with `end()` (ending twice is harmless)."""

    __slots__ = ("_key", "_timings")

    def __init__(self, timings: StageTimings | None, name: str) -> None:
        self._timings = timings
        self._key = timings._begin(name) if timings is not None else 0

    def end(self) -> None:
        if self._timings is not None:
            self._timings._end(self._key)
            self._timings = None

    def __enter__(self) -> Stage:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.end()


def stage(name: str) -> Stage:
    """Start timing `name` for the current request (nothing when no request is being recorded)."""
    return Stage(_current.get(), name)


def timed(name: str) -> Callable[[Callable[_P, Awaitable[_R]]], Callable[_P, Awaitable[_R]]]:
    """Time every call of an async function as stage `name` of the current request."""

    def decorate(function: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
        @functools.wraps(function)
        async def measured(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with stage(name):
                return await function(*args, **kwargs)

        return measured

    return decorate


def recording() -> tuple[StageTimings, Token[StageTimings | None]]:
    """A fresh recorder made current for the rest of this context; reset it with the token."""
    timings = StageTimings()
    return timings, _current.set(timings)


def stop_recording(token: Token[StageTimings | None]) -> None:
    """Put back the recorder that was current before `recording()`."""
    _current.reset(token)
