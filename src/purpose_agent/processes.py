"""The bodies of the long-running commands: the worker, and folder ingestion that waits for its jobs.

Each opens the application context for the life of the command and closes it at the end; the
command line (cli/) only parses options and prints. The worker serves its metrics on a port of its
own meanwhile (WORKER_METRICS_PORT), with the queue's depth refreshed beside its jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent import __version__
from purpose_agent.composition import WORKER_EMBEDDER_THREADS, worker_app, worker_metrics_server
from purpose_agent.context import open_context
from purpose_agent.jobs import repository as jobs
from purpose_agent.jobs.metrics import QueueDepth, observe_job
from purpose_agent.jobs.queue import INGESTION_QUEUE, run_worker
from purpose_agent.jobs.routine_logs import quiet_routine_job_logs
from purpose_agent.jobs.schemas import FINAL_STATES
from purpose_agent.kit.metrics import publish_build_info
from purpose_agent.knowledge import repository as knowledge
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.folder import FileResult, FolderReport, ingest_folder
from purpose_agent.settings import Settings

# While another worker holds one of our jobs, or a retry is scheduled, look again this often at most.
_WAIT_STEP_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class DocumentResult:
    category: str
    name: str
    status: str
    chunks: int
    error: str | None


@asynccontextmanager
async def _resources(settings: Settings) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], Embedder]]:
    # The application context, as the API's, but with an embedder that uses two threads per batch.
    async with open_context(
        settings, embedder_threads=WORKER_EMBEDDER_THREADS, authenticates=False
    ) as context:
        yield context.sessionmaker, context.embedder


async def worker_process(settings: Settings) -> None:
    """Run jobs until SIGINT/SIGTERM, which let the running ones finish first.

    Raises `MetricsServerError` before anything else when its metrics port cannot be had."""
    quiet_routine_job_logs()
    # First: a port already taken stops the start at once, in one line naming the setting.
    server = worker_metrics_server(settings)
    if server is not None:
        server.start()
    publish_build_info(__version__)
    try:
        async with _resources(settings) as (sessionmaker, embedder):
            depth = QueueDepth(sessionmaker)
            if server is not None:
                depth.start()
            try:
                await run_worker(
                    worker_app(settings, sessionmaker, embedder),
                    concurrency=settings.jobs.worker_concurrency,
                    heartbeat_seconds=settings.jobs.worker_heartbeat_seconds,
                    stalled_after_seconds=settings.jobs.worker_stalled_after_seconds,
                    middleware=[observe_job],
                )
            finally:
                await depth.aclose()
    finally:
        if server is not None:
            server.close()


async def ingest_process(
    settings: Settings,
    root: Path,
    *,
    prune: bool,
    wait: bool,
    on_file: Callable[[FileResult], None],
) -> tuple[FolderReport, list[DocumentResult]]:
    """Register the folder's files; with `wait`, run their jobs here (beside any worker) until all end."""
    async with _resources(settings) as (sessionmaker, embedder):
        report = await ingest_folder(
            sessionmaker, root, max_bytes=settings.knowledge.upload_max_bytes, prune=prune, on_file=on_file
        )
        if not wait or not report.job_ids:
            return report, []
        app = worker_app(settings, sessionmaker, embedder, maintenance=False)
        while pending := await _unfinished(sessionmaker, report.job_ids):
            await run_worker(
                app,
                concurrency=1,
                heartbeat_seconds=settings.jobs.worker_heartbeat_seconds,
                stalled_after_seconds=settings.jobs.worker_stalled_after_seconds,
                wait=False,
                queues=[INGESTION_QUEUE],
            )
            if await _unfinished(sessionmaker, report.job_ids):
                await asyncio.sleep(_until(min(pending)))
        return report, await _documents(sessionmaker, report.job_ids)


async def _unfinished(sessionmaker: async_sessionmaker[AsyncSession], job_ids: list[int]) -> list[datetime]:
    """When each unfinished job may run next (now, for one that is running or due)."""
    now = datetime.now(UTC)
    pending = []
    async with sessionmaker() as session:
        for job_id in job_ids:
            job = await jobs.get_job(session, job_id)
            if job is not None and job.status not in FINAL_STATES:
                pending.append(max(job.scheduled_at or now, now))
    return pending


def _until(moment: datetime) -> float:
    return min(max((moment - datetime.now(UTC)).total_seconds(), _WAIT_STEP_SECONDS), 60.0)


async def _documents(
    sessionmaker: async_sessionmaker[AsyncSession], job_ids: list[int]
) -> list[DocumentResult]:
    async with sessionmaker() as session:
        documents = await knowledge.documents_of_jobs(session, job_ids)
        return [
            DocumentResult(d.category, d.source_name, d.status, d.chunk_count, d.error) for d in documents
        ]
