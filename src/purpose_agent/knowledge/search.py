"""Hybrid search in one SQL statement: HNSW cosine and BM25 over the keyword index, fused by weight.

The vector side takes the `candidates` chunks nearest the query's embedding (inside the category
when one is given: the filter sits in the index scan, and pgvector's iterative scan keeps reading
the HNSW graph until enough rows pass it).

The keyword side is BM25 over the postings that triggers keep in `chunk_terms` (knowledge/models.py).
The question's terms are its lexemes under the same text search configuration as the chunks, and a
chunk matches on any of them (a natural-language question rarely has every word in one passage).
Term frequency counts a heading occurrence `HEADING_WEIGHT` times; idf and the average length are
those of the searched scope (the category, or everything). Two rules bound the postings a search
reads, leaving out the terms that weigh least: a term found in more than `COMMON_SHARE` of a scope
of `COMMON_SCOPE` chunks or more is left out while a rarer term of the question matches, and the
terms are read rarest first, a term only while those before it read fewer than `POSTINGS_BUDGET`
postings. On SciFact (10,000 chunks) the first moves nDCG@10 by -0.003 in keyword mode and +0.002
in hybrid mode, the second by less than 0.001; at 100,000 chunks searched at once the budget cuts
the keyword side's p95 from 57 to 23 ms. The keyword score is BM25 over the best score the question
could reach (every term's idf times k1 + 1), so it lies in 0..1; the side takes the `candidates`
best-scored chunks.

Hybrid search scores every candidate of either side on both: its cosine similarity and its keyword
score (0 when it matches no term). Each is standardised over all the candidates (minus the mean,
over the standard deviation), so that neither side's scale decides, and the fused score is
`DENSE_WEIGHT` times the standardised similarity plus the rest times the standardised keyword
score. On BEIR SciFact this ranked better than reciprocal rank fusion, a weighted sum of the raw
scores, min-max scaling, or standardising each side over its own candidates only
(bench/retrieval_quality.py, which also cross-validates the weight).

Vector mode scores by similarity alone, keyword mode by the keyword score alone. `min_score` filters
on the similarity in vector and hybrid mode and on the keyword score in keyword mode. Results are
ordered by score, highest first. Each search is timed and its passages counted by mode
(`purpose_agent_search_duration_seconds`, `purpose_agent_search_passages_returned`).
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

# ef_search 100 keeps HNSW recall@10 above 0.95 of exact search (bench/search.py measures it).
EF_SEARCH = 100
# BM25: term frequency saturation and length normalisation.
K1 = 0.9
B = 0.5
HEADING_WEIGHT = 1.5
# What a keyword search may leave out to bound its cost (the module's docstring).
COMMON_SHARE = 0.2
COMMON_SCOPE = 1000
POSTINGS_BUDGET = 10_000
# The vector side's weight in the fused score: equal weights. Chosen by 2-fold cross-validation on
# SciFact (bench/retrieval_quality.py --cross-validate), the halves picked 0.55 and 0.40.
DENSE_WEIGHT = 0.5
# Candidates each side offers the fusion, at least (a larger top_k takes four times top_k).
CANDIDATES = 50


def candidates_for(top_k: int) -> int:
    """How many candidates each side offers the fusion when a search asks for `top_k` hits."""
    return max(CANDIDATES, top_k * 4)


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
    # Cosine similarity to the query's embedding (None in keyword mode).
    similarity: float | None
    vector_rank: int | None
    keyword_rank: int | None
    # BM25 over the question's best possible score, 0..1 (None in vector mode).
    keyword_score: float | None = None


# A category, or a list of them (a caller limited to some agents' categories), or everything.
_SCOPE = (
    "(CAST(:category AS text) IS NULL OR {table}.category = :category)"
    " AND (CAST(:categories AS text[]) IS NULL OR {table}.category = ANY(CAST(:categories AS text[])))"
)


def _keyword_sides() -> str:
    """CTEs `scored` (every chunk matching a used term, with its keyword score) and `keyword_hits`."""
    return f"""
        scope AS (
            SELECT coalesce(sum(chunks), 0) AS chunks,
                   coalesce(sum(total_length), 0)::float8 / greatest(coalesce(sum(chunks), 0), 1) AS length
            FROM chunk_term_stats WHERE {_SCOPE.format(table="chunk_term_stats")}
        ),
        terms AS (
            SELECT question.lexeme, sum(counts.chunks) AS chunks,
                   ln(1 + (scope.chunks - sum(counts.chunks) + 0.5) / (sum(counts.chunks) + 0.5))::float8
                     AS idf,
                   scope.chunks < :common_scope OR sum(counts.chunks) <= :common_share * scope.chunks AS rare
            FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}', :query)) AS question
            JOIN chunk_term_counts AS counts
              ON counts.lexeme = question.lexeme AND {_SCOPE.format(table="counts")}
            CROSS JOIN scope
            GROUP BY question.lexeme, scope.chunks
        ),
        kept AS (
            SELECT lexeme, idf, chunks FROM terms WHERE rare OR NOT EXISTS (SELECT FROM terms WHERE rare)
        ),
        used AS (
            SELECT lexeme, idf FROM (
                SELECT lexeme, idf, sum(chunks) OVER (ORDER BY chunks, lexeme) - chunks AS read_before
                FROM kept
            ) AS rarest_first
            WHERE read_before < :postings_budget
        ),
        ceiling AS (SELECT sum(idf) * (:k1 + 1) AS score FROM used),
        scored AS MATERIALIZED (
            SELECT postings.chunk_id,
                   sum(used.idf * tf * (:k1 + 1)
                       / (tf + :k1 * (1 - :b + :b * postings.doc_length / scope.length))) / ceiling.score
                     AS keyword_score
            FROM used
            JOIN chunk_terms AS postings
              ON postings.lexeme = used.lexeme AND {_SCOPE.format(table="postings")}
            CROSS JOIN LATERAL (
                SELECT postings.tf_text + :heading_weight * postings.tf_heading AS tf
            ) AS frequency
            CROSS JOIN scope
            CROSS JOIN ceiling
            GROUP BY postings.chunk_id, ceiling.score
        ),
        keyword_hits AS (
            SELECT chunk_id AS id,
                   row_number() OVER (ORDER BY keyword_score DESC, chunk_id) AS rank
            FROM scored
            ORDER BY keyword_score DESC, chunk_id
            LIMIT :candidates
        )"""


def _vector_side(vector: str) -> str:
    return f"""
        vector_hits AS (
            SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM (
                SELECT id, embedding::{vector} <=> CAST(:embedding AS {vector}) AS distance
                FROM chunks
                WHERE {_SCOPE.format(table="chunks")}
                ORDER BY embedding::{vector} <=> CAST(:embedding AS {vector})
                LIMIT :candidates
            ) AS nearest
        )"""


_NO_HITS = "{name} AS (SELECT NULL::bigint AS id, NULL::bigint AS rank WHERE false)"


def _standardised(column: str) -> str:
    """How many standard deviations `column` lies above its mean over every candidate (0 when all tie)."""
    deviation = f"stddev_pop({column}) OVER ()"
    return (
        f"coalesce(({column} - avg({column}) OVER ()) / CASE WHEN {deviation} > 1e-9 THEN {deviation} END, 0)"
    )


def _statement(mode: SearchMode, dimension: int) -> str:
    vector = vector_type(dimension)
    similarity = f"1 - (chunks.embedding::{vector} <=> CAST(:embedding AS {vector}))"
    if mode is SearchMode.vector:
        sides = [_vector_side(vector), _NO_HITS.format(name="keyword_hits")]
        scores = f"{similarity} AS similarity, NULL::float8 AS keyword_score"
        score = "similarity"
    elif mode is SearchMode.keyword:
        sides = [_keyword_sides(), _NO_HITS.format(name="vector_hits")]
        scores = "NULL::float8 AS similarity, scored.keyword_score"
        score = "keyword_score"
    else:
        sides = [_vector_side(vector), _keyword_sides()]
        scores = f"{similarity} AS similarity, coalesce(scored.keyword_score, 0) AS keyword_score"
        score = (
            f":dense_weight * {_standardised('similarity')}"
            f" + (1 - :dense_weight) * {_standardised('keyword_score')}"
        )
    scored = "LEFT JOIN scored ON scored.chunk_id = candidates.id" if mode is not SearchMode.vector else ""
    threshold = "keyword_score" if mode is SearchMode.keyword else "similarity"
    # Scored over every candidate before min_score filters any: a threshold never moves the others' scores.
    return f"""
        WITH {", ".join(sides)},
        candidates AS (
            SELECT coalesce(vector_hits.id, keyword_hits.id) AS id,
                   vector_hits.rank AS vector_rank, keyword_hits.rank AS keyword_rank
            FROM vector_hits FULL OUTER JOIN keyword_hits ON keyword_hits.id = vector_hits.id
        ),
        candidate_scores AS (
            SELECT chunks.id, chunks.document_id, chunks.category, chunks.page, chunks.heading_path,
                   chunks.text, candidates.vector_rank, candidates.keyword_rank, {scores}
            FROM candidates
            JOIN chunks ON chunks.id = candidates.id
            {scored}
        ),
        fused AS (SELECT candidate_scores.*, ({score})::float8 AS score FROM candidate_scores),
        top_hits AS (
            SELECT * FROM fused
            WHERE (CAST(:min_score AS float8) IS NULL OR {threshold} >= :min_score)
            ORDER BY score DESC, id
            LIMIT :top_k
        )
        SELECT top_hits.id AS chunk_id, top_hits.document_id, documents.source_name, top_hits.category,
               top_hits.page, top_hits.heading_path, top_hits.text, top_hits.score, top_hits.similarity,
               top_hits.keyword_score, top_hits.vector_rank, top_hits.keyword_rank
        FROM top_hits
        JOIN documents ON documents.id = top_hits.document_id
        ORDER BY top_hits.score DESC, top_hits.id
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
    categories: Sequence[str] | None = None,
    mode: SearchMode = SearchMode.hybrid,
    min_score: float | None = None,
    candidates: int | None = None,
    dense_weight: float = DENSE_WEIGHT,
) -> list[SearchHit]:
    """The best `top_k` chunks for `query` (and its `embedding`, needed unless mode is keyword), in
    `category` and in `categories` when given."""
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
            "categories": list(categories) if categories is not None else None,
            "candidates": candidates or candidates_for(top_k),
            "k1": K1,
            "b": B,
            "heading_weight": HEADING_WEIGHT,
            "common_share": COMMON_SHARE,
            "common_scope": COMMON_SCOPE,
            "postings_budget": POSTINGS_BUDGET,
            "dense_weight": dense_weight,
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
            keyword_score=row.keyword_score,
        )
        for row in rows
    ]
    SEARCH_DURATION.labels(mode.value).observe(time.perf_counter() - started)
    SEARCH_PASSAGES.labels(mode.value).observe(len(hits))
    return hits


def _vector_literal(values: Sequence[float]) -> str:
    return "[" + ",".join(map(str, values)) + "]"
