"""The current time as routes see it: one clock per app, so tests and operators can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def current_time(request: Request) -> datetime:
    """The app's clock (app.state.clock, the system clock by default)."""
    clock: Clock = getattr(request.app.state, "clock", system_clock)
    return clock()


NowDep = Annotated[datetime, Depends(current_time)]
