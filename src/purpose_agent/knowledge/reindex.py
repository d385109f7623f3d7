"""Re-embed every document with the configured embedder, after the embedder changed.

The recorded embedder and its HNSW index are dropped first; each document is then ingested again
from its stored bytes. Until a document is done, it keeps its old chunks and vectors, but those no
longer match the index, so search finds only the documents already redone.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.index import reset_index
from purpose_agent.knowledge.ingestion import ingest_document
from purpose_agent.knowledge.models import Document, DocumentStatus


async def reindex_all(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    policy: ChunkingPolicy,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Rebuild the index for `embedder` and re-ingest every document; counts by final status."""
    async with sessionmaker() as session, session.begin():
        await reset_index(session, embedder.name, embedder.dimension)
        document_ids = (await session.scalars(select(Document.id).order_by(Document.created_at))).all()
    counts = {status.value: 0 for status in DocumentStatus}
    for done, document_id in enumerate(document_ids, 1):
        outcome = await ingest_document(sessionmaker, document_id, embedder, policy)
        counts[outcome.status.value] += 1
        if on_progress is not None:
            on_progress(done, len(document_ids))
    return counts
