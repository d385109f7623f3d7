"""Keyword search as a user sees it: BM25 over any of the question's terms, on the real database."""

from __future__ import annotations

import random

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.knowledge.models import Chunk, Document
from purpose_agent.knowledge.search import COMMON_SCOPE, POSTINGS_BUDGET, SearchHit, SearchMode, search_chunks
from tests.knowledge.test_search import (
    DIMENSION,
    create_category,
    create_chunk,
    create_document,
    random_vector,
    unit,
)


async def keyword_search(
    session: AsyncSession,
    query: str,
    category: str | None = None,
    top_k: int = 10,
    min_score: float | None = None,
) -> list[SearchHit]:
    return await search_chunks(
        session,
        query=query,
        embedding=None,
        dimension=DIMENSION,
        top_k=top_k,
        category=category,
        mode=SearchMode.keyword,
        min_score=min_score,
    )


async def new_category(session: AsyncSession, category: str) -> Document:
    """A new category with one document, yet empty."""
    await create_category(session, category)
    return await create_document(session, category, f"{category}.md")


async def documents_of(session: AsyncSession, category: str, texts: list[str]) -> list[Chunk]:
    """A new category holding one document with one chunk per text, in order."""
    rng = random.Random(len(texts))
    document = await new_category(session, category)
    return [
        await create_chunk(session, document, i, text, random_vector(rng)) for i, text in enumerate(texts)
    ]


async def test_a_question_matches_a_chunk_that_has_only_some_of_its_words(session: AsyncSession) -> None:
    kettle, _ = await documents_of(
        session, "manuals", ["Descale the kettle every month.", "Charge the drill."]
    )

    hits = await keyword_search(session, "Why does the water from my kettle taste of limescale?")

    assert [hit.chunk_id for hit in hits] == [kettle.id]
    assert hits[0].keyword_rank == 1
    assert hits[0].similarity is None


async def test_a_rare_term_outranks_a_common_one(session: AsyncSession) -> None:
    chunks = await documents_of(
        session,
        "manuals",
        [
            "Rinse with vinegar.",
            "The kettle boils water. The kettle has a filter.",
            *(f"The kettle model {number} is blue." for number in range(6)),
            "Rinse the kettle with vinegar.",
        ],
    )
    vinegar, kettle_twice, both = chunks[0], chunks[1], chunks[-1]

    hits = await keyword_search(session, "kettle vinegar")

    ranked = [hit.chunk_id for hit in hits]
    assert ranked[:2] == [both.id, vinegar.id]
    assert ranked.index(kettle_twice.id) > 1
    assert all(0 < hit.keyword_score <= 1 for hit in hits if hit.keyword_score is not None)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


async def test_a_heading_match_counts_and_counts_more_than_the_same_word_in_the_text(
    session: AsyncSession,
) -> None:
    rng = random.Random(5)
    document = await new_category(session, "manuals")
    in_text = await create_chunk(
        session, document, 0, "Warranty: check the seal.", random_vector(rng), heading_path=["Kettle", "Care"]
    )
    in_heading = await create_chunk(
        session, document, 1, "Check the seal.", random_vector(rng), heading_path=["Kettle", "Warranty"]
    )
    await create_chunk(session, document, 2, "Fill with fresh water.", random_vector(rng))

    hits = await keyword_search(session, "warranty")

    assert [hit.chunk_id for hit in hits] == [in_heading.id, in_text.id]
    assert hits[0].heading_path == ("Kettle", "Warranty")


async def test_idf_is_that_of_the_searched_category(session: AsyncSession) -> None:
    fillers = [f"Battery cell {n}." for n in range(6)]
    alpha = await documents_of(session, "alpha", [*fillers, "Battery report.", "Screen report."])
    beta = await documents_of(
        session,
        "beta",
        [*(text.replace("Battery", "Screen") for text in fillers), "Battery report.", "Screen report."],
    )

    in_alpha = await keyword_search(session, "battery screen report", category="alpha")
    in_beta = await keyword_search(session, "battery screen report", category="beta")

    # In alpha the battery is everywhere and the screen rare; in beta the other way round.
    assert in_alpha[0].chunk_id == alpha[-1].id
    assert in_beta[0].chunk_id == beta[-2].id
    assert {hit.category for hit in in_alpha} == {"alpha"}


async def test_min_score_filters_the_keyword_score_in_keyword_mode(session: AsyncSession) -> None:
    await documents_of(
        session, "manuals", ["Descale the kettle.", "Descale the kettle with vinegar.", "Boil."]
    )
    every = await keyword_search(session, "descale kettle with vinegar")
    assert len(every) == 2

    kept = await keyword_search(session, "descale kettle with vinegar", min_score=every[0].score)

    assert [hit.chunk_id for hit in kept] == [every[0].chunk_id]
    assert every[1].score < every[0].score <= 1


async def many_chunks(session: AsyncSession, category: str, texts: list[str]) -> None:
    """A new category holding one document with one chunk per text, inserted in one statement."""
    rng = random.Random(len(texts))
    document = await new_category(session, category)
    await session.execute(
        insert(Chunk),
        [
            {
                "document_id": document.id,
                "category": category,
                "chunk_index": index,
                "text": text,
                "page": None,
                "heading_path": [],
                "heading": "",
                "char_start": 0,
                "char_end": len(text),
                "token_count": 8,
                "embedding": unit([rng.gauss(0, 1) for _ in range(DIMENSION)]),
            }
            for index, text in enumerate(texts)
        ],
    )


async def test_in_a_large_scope_a_common_term_is_left_out_while_a_rarer_one_matches(
    session: AsyncSession,
) -> None:
    texts = [f"A common note, number {n}." for n in range(COMMON_SCOPE)]
    texts[17] = "A common zebra."
    texts[701] = "The zebra grazes."
    await many_chunks(session, "large", texts)
    small = await documents_of(session, "small", ["A common note.", "A common zebra."])

    rare = await keyword_search(session, "common zebra", category="large")
    assert sorted(hit.text for hit in rare) == ["A common zebra.", "The zebra grazes."]

    # Nothing rarer matches: the common term is all the question has.
    only_common = await keyword_search(session, "common okapi", category="large", top_k=5)
    assert len(only_common) == 5
    assert all("common" in hit.text for hit in only_common)

    # Under COMMON_SCOPE chunks every term counts.
    in_small = await keyword_search(session, "common zebra", category="small")
    assert [hit.chunk_id for hit in in_small] == [small[1].id, small[0].id]


async def test_terms_are_read_rarest_first_within_the_postings_budget(session: AsyncSession) -> None:
    words = [f"qa{number}" for number in range(60)]
    # 400 chunks of 30 of the words each: every word in 200 chunks, none common, 12,000 postings.
    texts = [" ".join(words[(index * 30 + k) % len(words)] for k in range(30)) for index in range(400)]
    assert len(texts) * 30 > POSTINGS_BUDGET
    texts += ["filler"] * 600
    texts += ["zz"] * 210  # the question's commonest word, alone in its chunks: read last
    await many_chunks(session, "wide", texts)

    every_word = await keyword_search(session, " ".join(["zz", *words]), category="wide", top_k=500)
    assert len(every_word) == 400
    assert all(hit.text != "zz" for hit in every_word)

    two_words = await keyword_search(session, "zz qa0", category="wide", top_k=500)
    assert sum(hit.text == "zz" for hit in two_words) == 210


async def test_a_document_deleted_is_no_longer_found(session: AsyncSession) -> None:
    await documents_of(session, "manuals", ["Descale the kettle."])
    document = await create_document(session, "manuals", "drill.md")
    await create_chunk(session, document, 0, "Charge the drill battery.", random_vector(random.Random(1)))
    assert [hit.source_name for hit in await keyword_search(session, "drill")] == ["drill.md"]

    await session.delete(await session.get(Document, document.id))
    await session.flush()

    assert await keyword_search(session, "drill") == []
    assert len(await keyword_search(session, "kettle")) == 1
