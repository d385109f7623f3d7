"""Turn one stored document into searchable chunks: parse, chunk, embed, then swap the chunks in at once.

Every step but the last works outside any long transaction: progress is written in short ones,
so `GET /api/jobs/{id}` shows it while the job runs. The last step deletes the document's old
chunks and inserts the new ones in ONE transaction, so a search sees the old chunks or the new
ones, never a mix and never none. A document that cannot be parsed ends `failed` with a readable
error (retrying would not help); any other failure is raised so the job queue retries it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.kit.executor import BoundedExecutor
from purpose_agent.kit.isolation import ProcessRunner
from purpose_agent.kit.metrics import CHUNKS_EMBEDDED
from purpose_agent.kit.tracing import span, span_async, traced
from purpose_agent.knowledge.blocks import HEADING_SEPARATOR
from purpose_agent.knowledge.chunking import Chunk as DraftChunk
from purpose_agent.knowledge.chunking import ChunkingPolicy, chunk_blocks
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.index import ensure_index
from purpose_agent.knowledge.models import Chunk, Document, DocumentContent, DocumentStatus
from purpose_agent.knowledge.parsing import ParseError, parse

log = structlog.get_logger("purpose_agent.knowledge")


@dataclass(frozen=True, slots=True)
class IngestionOutcome:
    status: DocumentStatus
    chunk_count: int
    pages: int | None
    error: str | None = None


class DocumentMissing(Exception):
    """The document was deleted before its job ran."""


@traced("ingest.document")
async def ingest_document(
    sessionmaker: async_sessionmaker[AsyncSession],
    document_id: uuid.UUID,
    embedder: Embedder,
    policy: ChunkingPolicy,
    *,
    batch_size: int = 16,
    parsing: BoundedExecutor | None = None,
    isolation: ProcessRunner | None = None,
) -> IngestionOutcome:
    """Parse, chunk and embed the document, then replace its chunks atomically.

    Parsing runs in a child process of `isolation` when given (the worker's: cancelling this call, its
    job's timeout, kills a parse that runs away), else on `parsing` like chunking; `parsing` is a
    worker's pool of its own, or a thread made for this document alone; never the event loop."""
    if parsing is not None:
        return await _ingest(sessionmaker, document_id, embedder, policy, batch_size, parsing, isolation)
    own = BoundedExecutor("parse", workers=1, max_queued=0)
    try:
        return await _ingest(sessionmaker, document_id, embedder, policy, batch_size, own, isolation)
    finally:
        own.shutdown()


async def _ingest(
    sessionmaker: async_sessionmaker[AsyncSession],
    document_id: uuid.UUID,
    embedder: Embedder,
    policy: ChunkingPolicy,
    batch_size: int,
    parsing: BoundedExecutor,
    isolation: ProcessRunner | None,
) -> IngestionOutcome:
    async with sessionmaker() as session, session.begin():
        document = await session.get(Document, document_id, with_for_update=True)
        if document is None:
            raise DocumentMissing(str(document_id))
        data = await session.scalar(
            select(DocumentContent.data).where(DocumentContent.document_id == document_id)
        )
        document.status = DocumentStatus.processing.value
        document.attempts += 1
        document.progress_pages = 0
        document.progress_chunks = 0
        document.progress_chunks_total = 0
        mime, category = document.mime, document.category

    try:
        with span("ingest.parse", {"document.mime": mime}):
            parsed = await (isolation or parsing).run(parse, data or b"", mime)
    except ParseError as exc:
        return await _fail(sessionmaker, document_id, str(exc))
    await _progress(sessionmaker, document_id, progress_pages=parsed.pages or 0)

    with span("ingest.chunk"):
        drafts = await parsing.run(chunk_blocks, parsed.blocks, embedder.count_tokens, policy)
    if not drafts:
        return await _fail(sessionmaker, document_id, "the document contains no text to index")
    await _progress(sessionmaker, document_id, progress_chunks_total=len(drafts))

    vectors: list[list[float]] = []
    with span("ingest.embed", {"ingest.chunks": len(drafts)}):
        for start in range(0, len(drafts), batch_size):
            batch = drafts[start : start + batch_size]
            vectors += await embedder.embed([draft.text for draft in batch])
            CHUNKS_EMBEDDED.inc(len(batch))
            await _progress(sessionmaker, document_id, progress_chunks=len(vectors))

    async with span_async("ingest.store"), sessionmaker() as session, session.begin():
        # Locked for the swap: a document deleted meanwhile gets no orphan chunks.
        if await session.get(Document, document_id, with_for_update=True) is None:
            raise DocumentMissing(str(document_id))
        info = await ensure_index(session, embedder.name, embedder.dimension)
        await session.execute(delete(Chunk).where(Chunk.document_id == document_id))
        await session.execute(
            insert(Chunk),
            [
                _row(document_id, category, draft, vector)
                for draft, vector in zip(drafts, vectors, strict=True)
            ],
        )
        await session.execute(
            update(Document)
            .where(Document.id == document_id)
            .values(
                status=DocumentStatus.ready.value,
                error=None,
                chunk_count=len(drafts),
                pages=parsed.pages,
                progress_chunks=len(drafts),
            )
        )
    log.info("document_ingested", document_id=str(document_id), chunks=len(drafts), embedder=info.embedder)
    return IngestionOutcome(DocumentStatus.ready, len(drafts), parsed.pages)


def _row(document_id: uuid.UUID, category: str, draft: DraftChunk, vector: list[float]) -> dict[str, object]:
    return {
        "document_id": document_id,
        "category": category,
        "chunk_index": draft.index,
        "text": draft.text,
        "page": draft.page,
        "heading_path": list(draft.heading_path),
        "heading": HEADING_SEPARATOR.join(draft.heading_path),
        "char_start": draft.start,
        "char_end": draft.end,
        "token_count": draft.token_count,
        "embedding": vector,
    }


async def _progress(
    sessionmaker: async_sessionmaker[AsyncSession], document_id: uuid.UUID, **counts: int
) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Document).where(Document.id == document_id).values(**counts))


async def _fail(
    sessionmaker: async_sessionmaker[AsyncSession], document_id: uuid.UUID, error: str
) -> IngestionOutcome:
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Document)
            .where(Document.id == document_id)
            .values(status=DocumentStatus.failed.value, error=error)
        )
    log.warning("document_failed", document_id=str(document_id), error=error)
    return IngestionOutcome(DocumentStatus.failed, 0, None, error)
