"""The ingestion job: one document through parse, chunk, embed and the atomic chunk swap.

A document that cannot be parsed (corrupt, encrypted, empty) is marked failed by ingestion; the
job then ends `failed` too, without a retry, since the same bytes would fail the same way.
Failures a retry can fix (the database went away, a remote embedder timed out, the worker was
busy past the per-document timeout, the parsing process died) are raised so procrastinate retries
them with backoff; the document keeps the last error meanwhile, so `GET /api/jobs/{id}` says why
it is waiting. On the last attempt the document ends `failed` with that error instead of staying
`processing`.
Jobs are locked by document, so two jobs for one document never run at the same time; other
documents' jobs go on beside a failing one.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import structlog
from procrastinate import Blueprint, JobContext, RetryStrategy
from procrastinate.jobs import Job
from procrastinate.retry import RetryDecision
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.jobs.queue import INGESTION_QUEUE
from purpose_agent.kit.executor import BoundedExecutor
from purpose_agent.kit.isolation import ProcessRunner
from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.ingestion import DocumentMissing, ingest_document
from purpose_agent.knowledge.models import Document, DocumentStatus

log = structlog.get_logger("purpose_agent.knowledge")

INGEST_TASK = "knowledge.ingest_document"


@dataclass(frozen=True, slots=True)
class IngestionJobPolicy:
    attempts: int = 3
    timeout_seconds: float = 600.0
    # procrastinate's exponential wait: BASE ** attempt seconds before each retry (5, 25 by default).
    retry_backoff_seconds: int = 5


class DocumentRejected(Exception):
    """The document itself cannot be indexed; the message is the error it was marked failed with."""


class _RetryUnlessRejected(RetryStrategy):
    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, DocumentRejected):
            return None
        return super().get_retry_decision(exception=exception, job=job)


def ingestion_blueprint(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    chunking: ChunkingPolicy,
    policy: IngestionJobPolicy,
    parsing: BoundedExecutor,
    isolation: ProcessRunner | None = None,
) -> Blueprint:
    """The ingestion task, bound to this worker's database sessions, embedder, chunking threads and
    parsing processes (threads too without `isolation`)."""
    blueprint = Blueprint()
    retry: RetryStrategy | bool = (
        _RetryUnlessRejected(max_attempts=policy.attempts - 1, exponential_wait=policy.retry_backoff_seconds)
        if policy.attempts > 1
        else False
    )

    @blueprint.task(name=INGEST_TASK, queue=INGESTION_QUEUE, retry=retry, pass_context=True)
    async def ingest(context: JobContext, document_id: str) -> str:
        attempt = context.job.attempts + 1
        try:
            async with asyncio.timeout(policy.timeout_seconds):
                outcome = await ingest_document(
                    sessionmaker,
                    uuid.UUID(document_id),
                    embedder,
                    chunking,
                    parsing=parsing,
                    isolation=isolation,
                )
        except DocumentMissing:
            log.info("document_gone", document_id=document_id, detail="deleted before its job ran")
            return "deleted"
        except Exception as exc:
            final = attempt >= policy.attempts
            error = _describe(exc, policy.timeout_seconds)
            if not final:
                error += f" (attempt {attempt} of {policy.attempts}; it will be retried)"
            await _record_failure(sessionmaker, uuid.UUID(document_id), error, final=final)
            raise
        if outcome.status is DocumentStatus.failed:
            raise DocumentRejected(outcome.error or "the document cannot be indexed")
        return outcome.status.value

    return blueprint


def _describe(exc: BaseException, timeout_seconds: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"ingestion took longer than the limit of {timeout_seconds:g} seconds"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _record_failure(
    sessionmaker: async_sessionmaker[AsyncSession], document_id: uuid.UUID, error: str, *, final: bool
) -> None:
    status = DocumentStatus.failed if final else DocumentStatus.queued
    try:
        async with sessionmaker() as session, session.begin():
            await session.execute(
                update(Document).where(Document.id == document_id).values(status=status.value, error=error)
            )
    except Exception:  # the database may be what failed; the job's own retry still stands
        log.exception("document_failure_not_recorded", document_id=str(document_id))
    log.warning("document_attempt_failed", document_id=str(document_id), error=error, final=final)
