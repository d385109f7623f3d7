"""Take a document in (from an upload or a folder) and queue its ingestion, in the caller's transaction.

A document is known by its category and source name. The same bytes under the same name change
nothing; other bytes replace the stored ones and queue a new ingestion, whose last step swaps
the chunks atomically, so search keeps answering from the old version until the new one is ready.
The job is deferred in the same transaction as the document row: both exist, or neither does.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.jobs.queue import INGESTION_QUEUE, defer
from purpose_agent.kit.executor import BoundedExecutor
from purpose_agent.knowledge.detection import UnsupportedType, detect_type
from purpose_agent.knowledge.errors import (
    CategoryNotFound,
    DocumentBusy,
    DocumentTooLarge,
    UnsupportedDocumentType,
)
from purpose_agent.knowledge.models import (
    Category,
    Document,
    DocumentContent,
    DocumentOrigin,
    DocumentStatus,
)
from purpose_agent.knowledge.tasks import INGEST_TASK

SOURCE_NAME_MAX = 255

_TODO_JOB = text("SELECT id FROM procrastinate_jobs WHERE queueing_lock = :lock AND status = 'todo' LIMIT 1")


class RegistrationOutcome(StrEnum):
    """What registering a document did: created it, replaced the one of that name (new content, or a
    failed one sent again), or found it unchanged."""

    created = "created"
    replaced = "replaced"
    unchanged = "unchanged"


@dataclass(frozen=True, slots=True)
class Registration:
    document: Document
    job_id: int | None
    outcome: RegistrationOutcome


def source_name(filename: str) -> str:
    """A display name from a client's file name: no directories, no control characters, NFC, bounded."""
    name = unicodedata.normalize("NFC", filename.replace("\\", "/"))
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    parts = [part for part in PurePosixPath(name).parts if part not in {"/", ".", ".."}]
    return ("/".join(parts).strip() or "document")[-SOURCE_NAME_MAX:]


async def register_document(
    session: AsyncSession,
    *,
    category: str,
    name: str,
    data: bytes,
    max_bytes: int,
    origin: DocumentOrigin = DocumentOrigin.upload,
    inspection: BoundedExecutor | None = None,
) -> Registration:
    """Store `data` as the document `name` of `category` and queue its ingestion when it is new or changed.

    The type detection and the digest (tens of milliseconds for a large file) run on `inspection`, a
    pool of the API's own, when given; the command line runs them in place.
    Raises DocumentTooLarge (413), UnsupportedDocumentType (415), CategoryNotFound (404) and
    DocumentBusy (409, the same name uploaded twice at the same moment).
    """
    if len(data) > max_bytes:
        raise DocumentTooLarge(
            f"The document is {len(data)} bytes; the limit is {max_bytes} bytes.", limit_bytes=max_bytes
        )
    try:
        mime, digest = await inspection.run(_inspect, data, name) if inspection else _inspect(data, name)
    except UnsupportedType as exc:
        raise UnsupportedDocumentType(str(exc)) from None
    if await session.get(Category, category) is None:
        raise CategoryNotFound(f"There is no category named '{category}'; create it first.")

    document = await session.scalar(
        select(Document).where(Document.category == category, Document.source_name == name).with_for_update()
    )
    if document is not None and document.sha256 == digest and document.status != DocumentStatus.failed:
        return Registration(document, document.job_id, RegistrationOutcome.unchanged)

    if document is None:
        document = await _create(session, category, name, data, digest, mime, origin)
        outcome = RegistrationOutcome.created
    else:
        content = await session.get(DocumentContent, document.id, with_for_update=True)
        if content is None:
            session.add(DocumentContent(document_id=document.id, data=data))
        else:
            content.data = data
        document.sha256, document.mime, document.size_bytes = digest, mime, len(data)
        outcome = RegistrationOutcome.replaced
    job_id = await queue_ingestion(session, document)
    return Registration(document, job_id, outcome)


def _inspect(data: bytes, name: str) -> tuple[str, str]:
    """The document's type, from its content, and its SHA-256 digest."""
    return detect_type(data, name), hashlib.sha256(data).hexdigest()


async def _create(
    session: AsyncSession,
    category: str,
    name: str,
    data: bytes,
    digest: str,
    mime: str,
    origin: DocumentOrigin,
) -> Document:
    document = Document(
        id=uuid.uuid4(),
        category=category,
        source_name=name,
        sha256=digest,
        mime=mime,
        size_bytes=len(data),
        origin=origin.value,
    )
    try:
        async with session.begin_nested():
            session.add(document)
            await session.flush()
    except IntegrityError:
        raise DocumentBusy(
            f"'{name}' is being added to '{category}' by another request right now; try again."
        ) from None
    session.add(DocumentContent(document_id=document.id, data=data))
    return document


async def queue_ingestion(session: AsyncSession, document: Document) -> int:
    """Queue (or reuse the already queued) ingestion job of `document`; it runs after commit."""
    lock = str(document.id)
    queued = await session.scalar(_TODO_JOB, {"lock": lock})
    job_id = (
        int(queued)
        if queued is not None
        else await defer(
            session,
            INGEST_TASK,
            queue=INGESTION_QUEUE,
            args={"document_id": lock},
            # One job per document at a time, and at most one waiting: a queued job reads the newest bytes.
            lock=lock,
            queueing_lock=lock,
        )
    )
    document.status = DocumentStatus.queued.value
    document.error = None
    document.job_id = job_id
    document.progress_pages = document.progress_chunks = document.progress_chunks_total = 0
    await session.flush()
    return job_id
