"""Every SQL statement that reads procrastinate's job tables for our API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_JOB = text(
    """
    SELECT job.id, job.task_name, job.queue_name, job.status::text AS status, job.attempts, job.args,
           job.scheduled_at,
           (SELECT min(at) FROM procrastinate_events WHERE job_id = job.id AND type = 'deferred')
               AS created_at,
           (SELECT max(at) FROM procrastinate_events WHERE job_id = job.id AND type = 'started')
               AS started_at,
           (SELECT max(at) FROM procrastinate_events
             WHERE job_id = job.id AND type IN ('succeeded', 'failed', 'cancelled', 'aborted'))
               AS finished_at
      FROM procrastinate_jobs job
     WHERE job.id = :job_id
    """
)


@dataclass(frozen=True, slots=True)
class JobRow:
    id: int
    task_name: str
    queue_name: str
    status: str
    attempts: int
    args: dict[str, Any]
    scheduled_at: datetime | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


async def get_job(session: AsyncSession, job_id: int) -> JobRow | None:
    row = (await session.execute(_JOB, {"job_id": job_id})).mappings().first()
    return JobRow(**row) if row is not None else None


_JOBS_BY_STATE = text(
    "SELECT status::text AS status, count(*) AS jobs FROM procrastinate_jobs GROUP BY status"
)

# A `todo` job is due from when it was deferred, or from its schedule (a retry's backoff); one
# scheduled for later is not waiting yet.
_OLDEST_DUE_JOB_AGE = text(
    """
    SELECT coalesce(extract(epoch FROM now() - min(coalesce(job.scheduled_at, deferred.at))), 0)
      FROM procrastinate_jobs job
      LEFT JOIN LATERAL (
          SELECT min(at) AS at FROM procrastinate_events WHERE job_id = job.id AND type = 'deferred'
      ) deferred ON true
     WHERE job.status = 'todo' AND (job.scheduled_at IS NULL OR job.scheduled_at <= now())
    """
)


async def jobs_by_state(session: AsyncSession) -> dict[str, int]:
    """How many jobs the queue holds in each state (states without any are absent)."""
    rows = await session.execute(_JOBS_BY_STATE)
    return {row.status: int(row.jobs) for row in rows}


async def oldest_due_job_age(session: AsyncSession) -> float:
    """Seconds the oldest due `todo` job has waited; 0 when none waits."""
    return max(0.0, float(await session.scalar(_OLDEST_DUE_JOB_AGE) or 0))
