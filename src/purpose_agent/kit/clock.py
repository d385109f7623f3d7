"""The current time as routes see it: one clock per app, so tests and operators can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Protocol

from fastapi import Depends, Request

from purpose_agent.kit.app_context import context_of

Clock = Callable[[], datetime]


class ClockContext(Protocol):
    """The part of the application context that tells the time."""

    @property
    def clock(self) -> Clock: ...


def system_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def current_time(request: Request) -> datetime:
    """Now, by the application's clock."""
    context: ClockContext = context_of(request)
    return context.clock()


NowDep = Annotated[datetime, Depends(current_time)]
