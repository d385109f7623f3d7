"""Keep a worker working through database outages: the LISTEN connection reconnects, the worker restarts.

procrastinate's worker runs side tasks beside its jobs (the LISTEN connection, heartbeats, the
periodic deferrer) and stops for good when one of them fails, which a database restart makes them
all do: "Side task listener failed ... stopping worker", and every upload after that stays `queued`.
Two layers keep it going:

- `ReconnectingConnector`: the LISTEN side task waits out an outage with backoff instead of failing.
  Nothing is missed meanwhile: the worker also polls for jobs every few seconds.
- `run_until_stopped`: a worker that ends although nobody asked it to (its heartbeat or job fetch
  failed) is started again, with backoff, until the database answers; only SIGINT/SIGTERM end it.
  A restarted worker registers anew; the jobs its previous run held count as stalled (their worker
  stopped beating) and the stalled-job check puts them back in the queue, so none is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

import psycopg
import structlog
from procrastinate import App, PsycopgConnector, signals
from procrastinate.app import WorkerOptions
from procrastinate.connector import Notify
from procrastinate.exceptions import ConnectorException
from procrastinate.worker import Worker

from purpose_agent.kit.backoff import BackoffPolicy

__all__ = ["ReconnectingConnector", "WorkerOptions", "run_until_stopped"]

log = structlog.get_logger("purpose_agent.jobs")

# What a database that is down, restarting or unreachable raises through procrastinate and psycopg.
DATABASE_ERRORS = (ConnectorException, psycopg.Error, OSError)
# Pauses between tries while the database is away: 1 s, then up to 30 s (full jitter).
RECONNECT = BackoffPolicy(base_seconds=1.0, cap_seconds=30.0)
# A listener or a worker that ran this long before failing starts its backoff from the beginning.
HEALTHY_SECONDS = 60.0


class ReconnectingConnector(PsycopgConnector):
    """procrastinate's psycopg connector, whose LISTEN connection reconnects instead of failing."""

    async def listen_notify(self, on_notification: Notify, channels: Iterable[str]) -> None:
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                await super().listen_notify(on_notification=on_notification, channels=channels)
            except DATABASE_ERRORS as exc:
                if time.monotonic() - started >= HEALTHY_SECONDS:
                    attempt = 0
                delay = RECONNECT.delay(attempt)
                attempt += 1
                log.warning("job_listener_down", error=type(exc).__name__, retry_seconds=round(delay, 2))
                await asyncio.sleep(delay)


async def run_until_stopped(app: App, options: WorkerOptions) -> None:
    """Run procrastinate workers with `options` one after another until SIGINT or SIGTERM (or, without
    `wait`, until the queue is empty); a run that the database ended is followed by another."""
    runs = _Runs(app, options)
    # Our handlers, not each worker's: a stop must also end an opening pool or a wait between runs.
    # After the first signal the default handlers are back, so a second Ctrl-C ends the process at once.
    with signals.on_stop(runs.stop):
        await runs.until_stopped()


class _Runs:
    def __init__(self, app: App, options: WorkerOptions) -> None:
        self.app = app
        self.options: WorkerOptions = {**options, "install_signal_handlers": False}
        self.waits = options.get("wait", True)
        self.stopping = asyncio.Event()
        self._worker: Worker | None = None
        self._run: asyncio.Task[None] | None = None

    def stop(self) -> None:
        self.stopping.set()
        if self._worker is not None:
            self._worker.stop()  # type: ignore[no-untyped-call]  # procrastinate's; the running jobs finish first
        elif self._run is not None:
            self._run.cancel()  # still opening the pool: nothing runs yet

    async def until_stopped(self) -> None:
        attempt = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            self._run = asyncio.create_task(self._once())
            try:
                await self._run
                if not self.waits:
                    return
                # It stopped itself: its heartbeat or its deferrer lost the database.
                reason = "a side task failed"
            except asyncio.CancelledError:
                if self.stopping.is_set():
                    return
                raise
            except DATABASE_ERRORS as exc:
                if not self.waits:
                    raise
                reason = type(exc).__name__
            finally:
                self._run = None
            if self.stopping.is_set():
                return
            if time.monotonic() - started >= HEALTHY_SECONDS:
                attempt = 0
            delay = RECONNECT.delay(attempt)
            attempt += 1
            log.warning("worker_database_lost", error=reason, retry_seconds=round(delay, 2))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if not self.stopping.is_set():
                log.info("worker_restarting", attempt=attempt)

    async def _once(self) -> None:
        async with self.app.open_async():
            self._worker = Worker(app=self.app, **self.options)
            try:
                await self._worker.run()  # type: ignore[no-untyped-call]  # procrastinate's, untyped
            finally:
                self._worker = None
