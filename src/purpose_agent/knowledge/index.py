"""The vector index and the embedder it belongs to.

The chunks' embedding column has no fixed dimension; the HNSW index is built on a cast to the
dimension of the embedder recorded in `embedding_index`. Vectors of two embedders are never mixed:
starting with an embedder other than the recorded one stops with a message pointing to `reindex`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.knowledge.models import EmbeddingIndex

HNSW_INDEX = "ix_chunks_embedding_hnsw"
# Build parameters: pgvector's defaults, which reach recall@10 above 0.95 with ef_search 100.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64


class EmbedderMismatch(Exception):
    """The index holds vectors of another embedder than the configured one."""


@dataclass(frozen=True, slots=True)
class IndexInfo:
    embedder: str
    dimension: int


def vector_type(dimension: int) -> str:
    """The SQL type chunk embeddings are cast to, matching the HNSW index expression."""
    if not 1 <= dimension <= 16_000:
        raise ValueError(f"embedding dimension out of range: {dimension}")
    return f"vector({int(dimension)})"


async def ensure_index(session: AsyncSession, embedder: str, dimension: int) -> IndexInfo:
    """Record `embedder` on an empty index and build its HNSW index; refuse a different one."""
    current = await session.scalar(select(EmbeddingIndex).with_for_update())
    if current is None:
        session.add(EmbeddingIndex(id=1, embedder=embedder, dimension=dimension))
        await session.flush()
        await _create_hnsw(session, dimension)
        return IndexInfo(embedder, dimension)
    if (current.embedder, current.dimension) != (embedder, dimension):
        raise EmbedderMismatch(_mismatch(current, embedder, dimension))
    return IndexInfo(current.embedder, current.dimension)


async def check_index(session: AsyncSession, embedder: str, dimension: int) -> IndexInfo | None:
    """The recorded embedder (None on an empty index); `EmbedderMismatch` when it is not this one."""
    current = await session.scalar(select(EmbeddingIndex))
    if current is None:
        return None
    if (current.embedder, current.dimension) != (embedder, dimension):
        raise EmbedderMismatch(_mismatch(current, embedder, dimension))
    return IndexInfo(current.embedder, current.dimension)


def _mismatch(current: EmbeddingIndex, embedder: str, dimension: int) -> str:
    return (
        f"the knowledge index holds vectors of {current.embedder} ({current.dimension} dimensions), "
        f"but the configured embedder is {embedder} ({dimension} dimensions); "
        "run `purpose-agent reindex` to re-embed every chunk with the configured one"
    )


async def reset_index(session: AsyncSession, embedder: str, dimension: int) -> None:
    """Forget the recorded embedder and rebuild the HNSW index for a new one (reindex)."""
    await session.execute(text(f"DROP INDEX IF EXISTS {HNSW_INDEX}"))
    await session.execute(text("DELETE FROM embedding_index"))
    await session.flush()
    await ensure_index(session, embedder, dimension)


async def _create_hnsw(session: AsyncSession, dimension: int) -> None:
    # The build is far faster when the graph fits in memory (about 2 KB a chunk at 384 dimensions);
    # the server default of 64 MB holds about 30,000 chunks, after which pgvector builds on disk.
    await session.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    await session.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON chunks USING hnsw "
            f"((embedding::{vector_type(dimension)}) vector_cosine_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
        )
    )
