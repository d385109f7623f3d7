"""Hybrid search in SQL, on synthetic vectors: category isolation, ordering, fusion, min_score."""

from __future__ import annotations

import functools
import math
import random
import statistics
import uuid
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.knowledge.index import EmbedderMismatch, ensure_index, reset_index
from purpose_agent.knowledge.models import Category, Chunk, Document
from purpose_agent.knowledge.search import DENSE_WEIGHT, SearchHit, SearchMode, candidates_for, search_chunks

DIMENSION = 8
WORDS = ["refund", "invoice", "shipping", "password", "warranty", "battery", "screen", "account", "policy"]


def unit(values: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return [value / norm for value in values]


def random_vector(rng: random.Random) -> list[float]:
    return unit([rng.gauss(0, 1) for _ in range(DIMENSION)])


async def create_category(session: AsyncSession, name: str) -> None:
    session.add(Category(name=name, description=f"{name} documents"))
    await session.flush()


async def create_document(session: AsyncSession, category: str, source: str) -> Document:
    document = Document(
        id=uuid.uuid4(),
        category=category,
        source_name=source,
        sha256="0" * 64,
        mime="text/plain",
        size_bytes=1,
    )
    session.add(document)
    await session.flush()
    return document


async def create_chunk(
    session: AsyncSession,
    document: Document,
    index: int,
    text: str,
    embedding: list[float],
    page: int = 1,
    heading_path: Sequence[str] = ("Guide", "Section"),
) -> Chunk:
    chunk = Chunk(
        document_id=document.id,
        category=document.category,
        chunk_index=index,
        text=text,
        page=page,
        heading_path=list(heading_path),
        heading=" > ".join(heading_path),
        char_start=0,
        char_end=len(text),
        token_count=len(text.split()) + 2,
        embedding=embedding,
    )
    session.add(chunk)
    await session.flush()
    return chunk


@pytest.fixture
async def index(session: AsyncSession) -> None:
    await ensure_index(session, "test/embedder", DIMENSION)


async def test_a_canary_in_another_category_never_leaks(session: AsyncSession, index: None) -> None:
    rng = random.Random(1)
    await create_category(session, "support")
    await create_category(session, "secret-ops")
    support = await create_document(session, "support", "faq.md")
    secret = await create_document(session, "secret-ops", "plans.md")
    query_vector = random_vector(rng)
    for position in range(12):
        await create_chunk(
            session, support, position, f"{rng.choice(WORDS)} {rng.choice(WORDS)}", random_vector(rng)
        )
    canary = await create_chunk(session, secret, 0, "canary launch codes for the refund vault", query_vector)

    for mode in SearchMode:
        everywhere = await search_chunks(
            session,
            query="canary launch codes",
            embedding=query_vector,
            dimension=DIMENSION,
            top_k=5,
            mode=mode,
        )
        assert everywhere[0].chunk_id == canary.id, mode
        filtered = await search_chunks(
            session,
            query="canary launch codes",
            embedding=query_vector,
            dimension=DIMENSION,
            top_k=5,
            mode=mode,
            category="support",
        )
        assert all(hit.category == "support" for hit in filtered), mode
        assert canary.id not in {hit.chunk_id for hit in filtered}


def standardised(value: float, values: Sequence[float]) -> float:
    """How many standard deviations `value` lies above the mean of `values` (0 when they all tie)."""
    deviation = statistics.pstdev(values)
    return (value - statistics.fmean(values)) / deviation if deviation > 1e-9 else 0.0


def rank_in(hits: Sequence[SearchHit], chunk_id: int) -> int | None:
    return next((rank for rank, hit in enumerate(hits, 1) if hit.chunk_id == chunk_id), None)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    sizes=st.lists(st.integers(0, 30), min_size=2, max_size=3),
    top_k=st.integers(1, 50),
    mode=st.sampled_from(list(SearchMode)),
)
async def test_filtered_results_stay_in_their_category_ordered_and_fused(
    session: AsyncSession, index: None, seed: int, sizes: list[int], top_k: int, mode: SearchMode
) -> None:
    rng = random.Random(seed)
    savepoint = await session.begin_nested()
    try:
        categories = [f"cat-{position}" for position in range(len(sizes))]
        for name, size in zip(categories, sizes, strict=True):
            await create_category(session, name)
            document = await create_document(session, name, f"{name}.txt")
            for position in range(size):
                words = " ".join(rng.choice(WORDS) for _ in range(4))
                await create_chunk(session, document, position, words, random_vector(rng))
        target = rng.randrange(len(categories))
        terms = rng.sample(WORDS, 2)
        search = functools.partial(
            search_chunks,
            session,
            query=f"Where is the {terms[0]} or the {terms[1]}?",
            embedding=random_vector(rng),
            dimension=DIMENSION,
            category=categories[target],
        )
        hits = await search(top_k=top_k, mode=mode)
        assert all(hit.category == categories[target] for hit in hits)
        if mode is SearchMode.vector:
            assert len(hits) == min(top_k, sizes[target])
        if mode is SearchMode.keyword:
            assert all(any(term in hit.text for term in terms) for hit in hits)
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)
        if mode is not SearchMode.hybrid:
            return
        # Each side on its own, with the candidates the hybrid search takes from it; then every
        # candidate of either, as hybrid search scores them.
        candidates = candidates_for(top_k)
        nearest = await search(top_k=candidates, mode=SearchMode.vector, candidates=candidates)
        matching = await search(top_k=candidates, mode=SearchMode.keyword, candidates=candidates)
        every = await search(top_k=2 * candidates, mode=SearchMode.hybrid, candidates=candidates)
        assert {hit.chunk_id for hit in every} == {hit.chunk_id for hit in [*nearest, *matching]}
        assert [hit.chunk_id for hit in every[:top_k]] == [hit.chunk_id for hit in hits]
        similarity = {hit.chunk_id: hit.similarity for hit in nearest}
        keyword_score = {hit.chunk_id: hit.keyword_score for hit in matching}
        both: list[tuple[float, float, float]] = []  # similarity, keyword score, fused score
        for hit in every:
            assert hit.similarity is not None
            assert hit.keyword_score is not None
            both.append((hit.similarity, hit.keyword_score, hit.score))
            assert hit.similarity == pytest.approx(similarity.get(hit.chunk_id, hit.similarity))
            assert hit.keyword_score == pytest.approx(keyword_score.get(hit.chunk_id, 0.0))
            assert hit.vector_rank == rank_in(nearest, hit.chunk_id)
            assert hit.keyword_rank == rank_in(matching, hit.chunk_id)
        similarities = [similarity for similarity, _, _ in both]
        keyword_scores = [keyword_score for _, keyword_score, _ in both]
        for similarity_, keyword_score_, score in both:
            expected = DENSE_WEIGHT * standardised(similarity_, similarities) + (
                1 - DENSE_WEIGHT
            ) * standardised(keyword_score_, keyword_scores)
            assert score == pytest.approx(expected, abs=1e-6)
        # Monotone in each side: a candidate at least as good on both scores at least as high.
        for first in both:
            for second in both:
                if first[0] >= second[0] and first[1] >= second[1]:
                    assert first[2] >= second[2] - 1e-9
    finally:
        await savepoint.rollback()


async def test_min_score_filters_on_similarity(session: AsyncSession, index: None) -> None:
    rng = random.Random(3)
    await create_category(session, "docs")
    document = await create_document(session, "docs", "a.txt")
    query_vector = random_vector(rng)
    close = await create_chunk(session, document, 0, "warranty terms", query_vector)
    opposite = [-value for value in query_vector]
    await create_chunk(session, document, 1, "battery care", opposite)
    hits = await search_chunks(
        session, query="warranty", embedding=query_vector, dimension=DIMENSION, top_k=5, min_score=0.5
    )
    assert [hit.chunk_id for hit in hits] == [close.id]
    assert hits[0].similarity == pytest.approx(1.0)


async def test_another_embedder_is_refused_until_reindex(session: AsyncSession, index: None) -> None:
    with pytest.raises(EmbedderMismatch, match="purpose-agent reindex"):
        await ensure_index(session, "openai/text-embedding-3-small", 1536)
    await reset_index(session, "openai/text-embedding-3-small", 1536)
    info = await ensure_index(session, "openai/text-embedding-3-small", 1536)
    assert (info.embedder, info.dimension) == ("openai/text-embedding-3-small", 1536)


async def test_check_index_reports_the_recorded_embedder(session: AsyncSession, index: None) -> None:
    from purpose_agent.knowledge.index import check_index

    info = await check_index(session, "test/embedder", DIMENSION)
    assert info is not None
    assert info.embedder == "test/embedder"
    with pytest.raises(EmbedderMismatch, match="purpose-agent reindex"):
        await check_index(session, "local/other", 384)
