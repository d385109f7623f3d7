"""Hybrid search in one SQL statement: HNSW cosine and PostgreSQL full text, fused by reciprocal rank.

Each side takes its best `candidates` chunks (inside the category when one is given: the filter
sits in the index scan, and pgvector's iterative scan keeps reading the HNSW graph until enough
rows pass it), ranks them, and the fused score of a chunk is the sum over sides of 1/(k + rank).
`similarity` (cosine, 0..1 for normalised vectors) is returned for every hit, and is what
`min_score` filters on in vector and hybrid mode; in keyword mode `min_score` filters the
full-text rank. Results are ordered by score, highest first. Each search is timed and its passages
counted by mode (`purpose_agent_search_duration_seconds`, `purpose_agent_search_passages_returned`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.kit.metrics import SEARCH_DURATION, SEARCH_PASSAGES
from purpose_agent.kit.tracing import annotate, traced
from purpose_agent.knowledge.index import vector_type
from purpose_agent.knowledge.models import TEXT_SEARCH_CONFIG

RRF_K = 60
# ef_search 100 keeps HNSW recall@10 above 0.95 of exact search (bench/search.py measures it).
EF_SEARCH = 100


class SearchMode(StrEnum):
    hybrid = "hybrid"
    vector = "vector"
    keyword = "keyword"


@dataclass(frozen=True, slots=True)
class SearchHit:
    chunk_id: int
    document_id: uuid.UUID
    source_name: str
    category: str
    page: int | None
    heading_path: tuple[str, ...]
    text: str
    score: float
    similarity: float | None
    vector_rank: int | None
    keyword_rank: int | None


def reciprocal_rank_fusion(ranks: Sequence[int | None], k: int = RRF_K) -> float:
    """The fused score of one item from its rank in each list (None: absent from that list)."""
    return sum(1.0 / (k + rank) for rank in ranks if rank is not None)


def _statement(mode: SearchMode, dimension: int) -> str:
    vector = vector_type(dimension)
    vector_side = f"""
        vector_hits AS (
            SELECT id, row_number() OVER (ORDER BY distance) AS rank FROM (
                SELECT id, embedding::{vector} <=> CAST(:embedding AS {vector}) AS distance
                FROM chunks
                WHERE (CAST(:category AS text) IS NULL OR category = :category)
                ORDER BY embedding::{vector} <=> CAST(:embedding AS {vector})
                LIMIT :candidates
            ) AS nearest
        )"""
    keyword_side = f"""
        keyword_hits AS (
            SELECT id, row_number() OVER (ORDER BY relevance DESC, id) AS rank, relevance FROM (
                SELECT id, ts_rank_cd(tsv, query) AS relevance
                FROM chunks, websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', :query) AS query
                WHERE tsv @@ query AND (CAST(:category AS text) IS NULL OR category = :category)
                ORDER BY ts_rank_cd(tsv, query) DESC
                LIMIT :candidates
            ) AS matching
        )"""
    empty_vector = "vector_hits AS (SELECT NULL::bigint AS id, NULL::bigint AS rank WHERE false)"
    empty_keyword = (
        "keyword_hits AS (SELECT NULL::bigint AS id, NULL::bigint AS rank, NULL::real AS relevance"
        " WHERE false)"
    )
    sides = {
        SearchMode.hybrid: (vector_side, keyword_side),
        SearchMode.vector: (vector_side, empty_keyword),
        SearchMode.keyword: (empty_vector, keyword_side),
    }[mode]
    threshold = (
        "keyword_hits.relevance >= :min_score"
        if mode is SearchMode.keyword
        else f"1 - (chunks.embedding::{vector} <=> CAST(:embedding AS {vector})) >= :min_score"
    )
    similarity = (
        "NULL::float"
        if mode is SearchMode.keyword
        else f"1 - (chunks.embedding::{vector} <=> CAST(:embedding AS {vector}))"
    )
    return f"""
        WITH {sides[0]}, {sides[1]},
        fused AS (
            SELECT coalesce(vector_hits.id, keyword_hits.id) AS id,
                   vector_hits.rank AS vector_rank,
                   keyword_hits.rank AS keyword_rank,
                   keyword_hits.relevance AS relevance,
                   coalesce(1.0 / (:rrf_k + vector_hits.rank), 0)
                     + coalesce(1.0 / (:rrf_k + keyword_hits.rank), 0) AS score
            FROM vector_hits FULL OUTER JOIN keyword_hits ON vector_hits.id = keyword_hits.id
        )
        SELECT chunks.id AS chunk_id, chunks.document_id, documents.source_name, chunks.category,
               chunks.page, chunks.heading_path, chunks.text, fused.score::float AS score,
               {similarity} AS similarity, fused.vector_rank, fused.keyword_rank
        FROM fused
        JOIN chunks ON chunks.id = fused.id
        JOIN documents ON documents.id = chunks.document_id
        WHERE (CAST(:min_score AS float) IS NULL OR {threshold.replace("keyword_hits.", "fused.")})
        ORDER BY fused.score DESC, chunks.id
        LIMIT :top_k
    """


@traced("knowledge.search")
async def search_chunks(
    session: AsyncSession,
    *,
    query: str,
    embedding: Sequence[float] | None,
    dimension: int,
    top_k: int,
    category: str | None = None,
    mode: SearchMode = SearchMode.hybrid,
    min_score: float | None = None,
    candidates: int | None = None,
) -> list[SearchHit]:
    """The best `top_k` chunks for `query` (and its `embedding`, needed unless mode is keyword)."""
    if mode is not SearchMode.keyword and embedding is None:
        raise ValueError("vector and hybrid search need the query's embedding")
    started = time.perf_counter()
    annotate({"search.mode": mode.value, "search.top_k": top_k})
    # Settings local to this transaction: enough candidates for recall, and iterative scans so that
    # a category filter still yields `candidates` rows from the HNSW index.
    # A cached generic plan is made without the LIMIT and the category, and then scans every row
    # instead of the HNSW index (seen after psycopg prepares the statement on its fifth use).
    # All three in one round trip (set_config with is_local: as SET LOCAL).
    await session.execute(
        text(
            "SELECT set_config('hnsw.ef_search', :ef_search, true),"
            " set_config('plan_cache_mode', 'force_custom_plan', true),"
            " set_config('hnsw.iterative_scan', 'relaxed_order', true)"
        ),
        {"ef_search": str(max(EF_SEARCH, top_k * 2))},
    )
    rows = await session.execute(
        text(_statement(mode, dimension)),
        {
            "embedding": _vector_literal(embedding) if embedding is not None else None,
            "query": query,
            "category": category,
            "candidates": candidates or max(50, top_k * 4),
            "rrf_k": RRF_K,
            "min_score": min_score,
            "top_k": top_k,
        },
    )
    hits = [
        SearchHit(
            chunk_id=row.chunk_id,
            document_id=row.document_id,
            source_name=row.source_name,
            category=row.category,
            page=row.page,
            heading_path=tuple(row.heading_path or ()),
            text=row.text,
            score=row.score,
            similarity=row.similarity,
            vector_rank=row.vector_rank,
            keyword_rank=row.keyword_rank,
        )
        for row in rows
    ]
    SEARCH_DURATION.labels(mode.value).observe(time.perf_counter() - started)
    SEARCH_PASSAGES.labels(mode.value).observe(len(hits))
    return hits


def _vector_literal(values: Sequence[float]) -> str:
    return "[" + ",".join(map(str, values)) + "]"
