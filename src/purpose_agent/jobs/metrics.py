"""What a worker tells Prometheus about the job queue: each run's duration and outcome, and the depth.

`observe_job` is a procrastinate worker middleware: it wraps every job the worker runs, whatever its
task. A run that raises is a failed run, also when procrastinate will retry it; a run stopped by
the worker's shutdown is neither (it runs again elsewhere). `QueueDepth` reads the queue every
`REFRESH_SECONDS`, by state and the age of the oldest due job: it is the whole queue's, so every
worker reports the same numbers.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from procrastinate import JobContext
from procrastinate.exceptions import JobAborted
from procrastinate.middleware import AsyncCallNext
from procrastinate.worker import Worker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.jobs import repository
from purpose_agent.kit.background import every
from purpose_agent.kit.metrics import JOB_DURATION, JOB_FAILURES, JOBS, OLDEST_QUEUED_JOB_AGE

log = structlog.get_logger("purpose_agent.jobs")

# procrastinate's states (`aborting` is a legacy one it no longer uses); each is reported, 0 when empty.
STATES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
REFRESH_SECONDS = 15.0


async def observe_job(call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
    """Time one job run and count it by outcome (a procrastinate worker middleware)."""
    task = context.job.task_name
    started = time.monotonic()
    try:
        result = await call_next()
    except JobAborted:
        raise
    except Exception:
        JOB_DURATION.labels(task, "failed").observe(time.monotonic() - started)
        JOB_FAILURES.labels(task).inc()
        raise
    JOB_DURATION.labels(task, "succeeded").observe(time.monotonic() - started)
    return result


class QueueDepth:
    """Keeps `purpose_agent_jobs` and `purpose_agent_oldest_queued_job_age_seconds` current."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], every_seconds: float = REFRESH_SECONDS
    ) -> None:
        self.sessionmaker = sessionmaker
        self.every_seconds = every_seconds
        self._loop = every(every_seconds, self.refresh, _not_read)

    async def refresh(self) -> None:
        """Read the queue now and set the gauges."""
        async with self.sessionmaker() as session:
            counts = await repository.jobs_by_state(session)
            oldest = await repository.oldest_due_job_age(session)
        for state in STATES:
            JOBS.labels(state).set(counts.get(state, 0))
        OLDEST_QUEUED_JOB_AGE.set(oldest)

    def start(self) -> None:
        """Refresh now and every `every_seconds` until `aclose()`."""
        self._loop.start()

    async def aclose(self) -> None:
        await self._loop.aclose()


def _not_read(exc: Exception) -> None:
    # The database blinked: the gauges keep their last values until the next refresh.
    log.warning("queue_depth_not_read", error=type(exc).__name__)
