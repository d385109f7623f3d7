"""The triggers keep the keyword index exact through every way chunks change, alone and concurrently."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.db.engine import create_engine
from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.embeddings.local import LocalEmbedder
from purpose_agent.knowledge.ingestion import ingest_document
from purpose_agent.knowledge.models import Category, Chunk, Document, DocumentContent
from purpose_agent.knowledge.service import delete_document
from tests.knowledge.keyword_oracle import recounted, stored
from tests.knowledge.test_ingestion import stored_document
from tests.knowledge.test_search import random_vector

KETTLE = (
    b"# Kettle care\n\nDescale the kettle monthly with white vinegar.\n\n"
    b"# Warranty\n\nFive years on the element.\n"
)
DRILL = b"# Drill\n\nCharge the drill battery fully before first use. The drill battery lasts an hour.\n"


async def assert_exact(db: AsyncSession) -> None:
    assert await stored(db) == await recounted(db)


async def test_the_index_follows_ingestion_re_ingestion_edits_and_deletion(
    session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession], embedder: LocalEmbedder
) -> None:
    kettle = await stored_document(session, KETTLE, "text/markdown", "kettle.md")
    drill = await stored_document(session, DRILL, "text/markdown", "drill.md")
    for document_id in (kettle, drill):
        await ingest_document(test_sessionmaker, document_id, embedder, ChunkingPolicy())
    await assert_exact(session)
    index = await stored(session)
    assert index.counts["kettl", "manuals"] == 1
    assert index.counts["warranti", "manuals"] == 1
    assert index.stats["manuals"][0] == 3
    [(_, tf_heading, _)] = [value for key, value in index.postings.items() if key[0] == "warranti"]
    assert tf_heading == 1

    # New bytes: the old chunks are deleted and the new ones inserted in one transaction.
    content = await session.get(DocumentContent, kettle)
    assert content is not None
    content.data = b"# Kettle care\n\nRinse the kettle after descaling.\n"
    await session.flush()
    await ingest_document(test_sessionmaker, kettle, embedder, ChunkingPolicy())
    await assert_exact(session)
    index = await stored(session)
    assert ("warranti", "manuals") not in index.counts
    assert index.stats["manuals"][0] == 2

    # An edit in place, and a document's chunks moved to another category.
    await session.execute(
        update(Chunk)
        .where(Chunk.document_id == kettle)
        .values(text="Rinse the kettle twice after descaling.")
    )
    await session.execute(update(Chunk).where(Chunk.document_id == drill).values(category="tools"))
    # An update that changes no text: nothing to move.
    await session.execute(update(Chunk).where(Chunk.document_id == kettle).values(page=7))
    await assert_exact(session)
    assert (await stored(session)).stats.keys() == {"manuals", "tools"}

    await delete_document(session, drill)
    await assert_exact(session)
    assert "tools" not in (await stored(session)).stats

    await session.execute(text("TRUNCATE chunks CASCADE"))
    index = await stored(session)
    assert (index.postings, index.counts, index.stats) == ({}, {}, {})


WRITERS = 8
ROUNDS = 3


@pytest.fixture
async def writers(database_url: str) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], str]]:
    """Sessions on an engine of their own, a connection for each writer, whose transactions commit
    for real; and a committed category for them, removed afterwards with all it holds."""
    engine = create_engine(database_url, pool_size=WRITERS + 1, connect_timeout=5)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    category = f"concurrent-{uuid.uuid4().hex[:8]}"
    async with sessionmaker() as session, session.begin():
        session.add(Category(name=category, description="eight writers at once"))
    try:
        yield sessionmaker, category
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(Document).where(Document.category == category))
            await session.execute(delete(Category).where(Category.name == category))
        await engine.dispose()


async def test_eight_concurrent_re_ingestions_of_one_category_neither_deadlock_nor_miscount(
    writers: tuple[async_sessionmaker[AsyncSession], str],
) -> None:
    sessionmaker, category = writers
    documents = [uuid.uuid4() for _ in range(WRITERS)]
    async with sessionmaker() as session, session.begin():
        for number, document_id in enumerate(documents):
            session.add(
                Document(
                    id=document_id,
                    category=category,
                    source_name=f"doc-{number}.md",
                    sha256="0" * 64,
                    mime="text/markdown",
                    size_bytes=1,
                )
            )

    async def re_ingest(document_id: uuid.UUID, writer: int, round_: int, barrier: asyncio.Barrier) -> None:
        """The swap ingestion makes: the document locked, its chunks deleted, the new ones inserted."""
        rng = random.Random(writer * 100 + round_)
        # Shared words, so that every writer updates the same counts; some words come and go.
        words = ["kettle", "vinegar", "descale", "warranty", "battery", "filter", "element", f"round{round_}"]
        async with sessionmaker() as session, session.begin():
            await session.get(Document, document_id, with_for_update=True)
            await barrier.wait()  # every writer holds its document: now all write at once
            await session.execute(delete(Chunk).where(Chunk.document_id == document_id))
            await session.execute(
                insert(Chunk),
                [
                    {
                        "document_id": document_id,
                        "category": category,
                        "chunk_index": index,
                        "text": " ".join(rng.choices(words, k=rng.randint(3, 12))),
                        "page": None,
                        "heading_path": ["Guide", rng.choice(words)],
                        "heading": "Guide",
                        "char_start": 0,
                        "char_end": 1,
                        "token_count": 12,
                        "embedding": random_vector(rng),
                    }
                    for index in range(rng.randint(1, 4))
                ],
            )

    for round_ in range(ROUNDS):
        barrier = asyncio.Barrier(WRITERS)
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    re_ingest(document_id, writer, round_, barrier)
                    for writer, document_id in enumerate(documents)
                )
            ),
            timeout=60,
        )

    async with sessionmaker() as session:
        now, expected = await stored(session), await recounted(session)
    assert now == expected
    assert now.counts[f"round{ROUNDS - 1}", category] > 0
    assert (f"round{ROUNDS - 2}", category) not in now.counts
    assert now.stats[category][0] == sum(
        1 for lexeme, where, _ in now.postings if (lexeme, where) == ("guid", category)
    )

    async with sessionmaker() as session, session.begin():
        await session.execute(delete(Document).where(Document.category == category))
    async with sessionmaker() as session:
        assert await stored(session) == await recounted(session)
        assert category not in (await stored(session)).stats
