"""GET /api/jobs/{id}: what a background job is doing, how far it got, and its last error.

Here rather than in `jobs` (the queue, below every domain package) because what a user asks of a job
is its document's ingestion: progress and last error."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from purpose_agent.auth.dependencies import AdminPrincipal
from purpose_agent.db.engine import SessionDep
from purpose_agent.jobs import repository
from purpose_agent.jobs.errors import JobNotFound
from purpose_agent.jobs.schemas import FINAL_STATES, JobDocument, JobProgress, JobRead
from purpose_agent.kit.problems import problem_responses
from purpose_agent.knowledge.models import Document

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("/{job_id}", responses=problem_responses(JobNotFound))
async def get_job(
    job_id: Annotated[int, Path(ge=1, le=2**63 - 1)], session: SessionDep, _: AdminPrincipal
) -> JobRead:
    """A job's state and attempts; for an ingestion job, its document's progress and last error."""
    job = await repository.get_job(session, job_id)
    if job is None:
        raise JobNotFound(f"There is no job with id {job_id}.")
    document = await _subject(session, job.args.get("document_id"))
    return JobRead(
        id=job.id,
        task=job.task_name,
        queue=job.queue_name,
        status=job.status,
        attempts=job.attempts,
        created_at=job.created_at,
        scheduled_at=job.scheduled_at,
        started_at=job.started_at,
        finished_at=job.finished_at if job.status in FINAL_STATES else None,
        error=document.error if document is not None else None,
        progress=JobProgress(
            pages_parsed=document.progress_pages,
            chunks_embedded=document.progress_chunks,
            chunks_total=document.progress_chunks_total,
        )
        if document is not None
        else None,
        document=JobDocument(
            id=document.id,
            source_name=document.source_name,
            category=document.category,
            status=document.status,
            chunk_count=document.chunk_count,
        )
        if document is not None
        else None,
    )


async def _subject(session: SessionDep, document_id: object) -> Document | None:
    if not isinstance(document_id, str):
        return None
    try:
        return await session.get(Document, uuid.UUID(document_id))
    except ValueError:
        return None
