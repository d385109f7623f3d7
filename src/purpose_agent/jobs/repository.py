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
