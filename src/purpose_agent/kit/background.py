"""A loop that runs beside the app for its whole life: started in the lifespan, cancelled at its end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    """Runs `body()` as one task from `start()` until `aclose()`."""

    def __init__(self, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._body = body
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._body())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def every(
    seconds: float,
    body: Callable[[], Coroutine[Any, Any, None]],
    on_failure: Callable[[Exception], None],
) -> BackgroundLoop:
    """A loop that runs `body()` at once and then every `seconds`; a run that fails is handed to
    `on_failure` and the next one goes on as planned."""

    async def repeat() -> None:
        while True:
            try:
                await body()
            except Exception as exc:
                on_failure(exc)
            await asyncio.sleep(seconds)

    return BackgroundLoop(repeat)
