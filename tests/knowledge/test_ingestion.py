"""Ingestion end to end with the real parser, chunker and local embedder, on the real database."""

from __future__ import annotations

import hashlib
import uuid

from fpdf import FPDF
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.embeddings.local import LocalEmbedder
from purpose_agent.knowledge.ingestion import ingest_document
from purpose_agent.knowledge.models import Category, Chunk, Document, DocumentContent, DocumentStatus
from purpose_agent.knowledge.search import SearchMode, search_chunks

PAGES = [
    ("Getting started", "Plug the kettle into a grounded socket. Fill it with fresh water up to the line."),
    ("Cleaning", "Descale the kettle monthly with white vinegar. Rinse twice before boiling again."),
    ("Warranty", "The heating element is covered for five years. Keep the receipt to claim a repair."),
]


def manual_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for title, body in PAGES:
        pdf.add_page()
        pdf.start_section(title)
        pdf.cell(text=title, new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(w=0, text=body)
    return bytes(pdf.output())


async def stored_document(
    session: AsyncSession, data: bytes, mime: str, name: str, category: str = "manuals"
) -> uuid.UUID:
    if await session.get(Category, category) is None:
        session.add(Category(name=category, description="product manuals" if category == "manuals" else ""))
    document = Document(
        id=uuid.uuid4(),
        category=category,
        source_name=name,
        sha256=hashlib.sha256(data).hexdigest(),
        mime=mime,
        size_bytes=len(data),
    )
    session.add(document)
    await session.flush()
    session.add(DocumentContent(document_id=document.id, data=data))
    await session.flush()
    return document.id


async def test_a_multi_page_pdf_becomes_ready_and_page_three_answers_first(
    session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession], embedder: LocalEmbedder
) -> None:
    document_id = await stored_document(session, manual_pdf(), "application/pdf", "kettle.pdf")
    outcome = await ingest_document(test_sessionmaker, document_id, embedder, ChunkingPolicy())
    assert outcome.status is DocumentStatus.ready
    assert outcome.pages == 3

    document = await session.get(Document, document_id, populate_existing=True)
    assert document is not None
    assert (document.status, document.chunk_count, document.attempts) == ("ready", outcome.chunk_count, 1)

    question = "How long is the heating element covered?"
    [vector] = await embedder.embed([question])
    hits = await search_chunks(
        session, query=question, embedding=vector, dimension=embedder.dimension, top_k=3, category="manuals"
    )
    assert hits[0].page == 3
    assert hits[0].source_name == "kettle.pdf"
    assert hits[0].heading_path == ("Warranty",)


async def test_re_ingesting_replaces_the_chunks_and_never_doubles_them(
    session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession], embedder: LocalEmbedder
) -> None:
    original = (
        b"# Returns\n\nReturns are accepted within 30 days.\n\n# Shipping\n\nShipping takes five days.\n"
    )
    document_id = await stored_document(session, original, "text/markdown", "policy.md")
    first = await ingest_document(test_sessionmaker, document_id, embedder, ChunkingPolicy())
    again = await ingest_document(test_sessionmaker, document_id, embedder, ChunkingPolicy())
    assert first.chunk_count == again.chunk_count == 2

    changed = b"# Returns\n\nReturns are accepted within 60 days.\n"
    content = await session.get(DocumentContent, document_id)
    assert content is not None
    content.data = changed
    await session.flush()
    await ingest_document(test_sessionmaker, document_id, embedder, ChunkingPolicy())

    texts = (await session.scalars(select(Chunk.text).where(Chunk.document_id == document_id))).all()
    assert texts == ["Returns\n\nReturns are accepted within 60 days."]


async def test_a_corrupt_pdf_fails_with_a_readable_error_and_keeps_nothing(
    session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession], embedder: LocalEmbedder
) -> None:
    document_id = await stored_document(session, manual_pdf()[:300], "application/pdf", "broken.pdf")
    outcome = await ingest_document(test_sessionmaker, document_id, embedder, ChunkingPolicy())
    assert outcome.status is DocumentStatus.failed
    assert outcome.error
    document = await session.get(Document, document_id, populate_existing=True)
    assert document is not None
    assert (document.status, document.error) == ("failed", outcome.error)
    count = await session.scalar(
        select(func.count()).select_from(Chunk).where(Chunk.document_id == document_id)
    )
    assert count == 0


async def test_search_by_keyword_finds_the_exact_term(
    session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession], embedder: LocalEmbedder
) -> None:
    document_id = await stored_document(session, manual_pdf(), "application/pdf", "kettle.pdf")
    await ingest_document(test_sessionmaker, document_id, embedder, ChunkingPolicy())
    hits = await search_chunks(
        session,
        query="vinegar",
        embedding=None,
        dimension=embedder.dimension,
        top_k=5,
        mode=SearchMode.keyword,
    )
    assert [hit.page for hit in hits] == [2]


async def test_reindex_moves_every_document_to_the_new_embedder(
    session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession], embedder: LocalEmbedder
) -> None:
    from purpose_agent.knowledge.index import ensure_index
    from purpose_agent.knowledge.models import EmbeddingIndex
    from purpose_agent.knowledge.reindex import reindex_all

    # An index built by another embedder, holding one document's chunks.
    await ensure_index(session, "test/old-embedder", 384)
    document_id = await stored_document(session, b"# Care\n\nWipe the lid dry.\n", "text/markdown", "care.md")
    progress: list[tuple[int, int]] = []

    counts = await reindex_all(
        test_sessionmaker,
        embedder,
        ChunkingPolicy(),
        on_progress=lambda done, total: progress.append((done, total)),
    )

    assert counts["ready"] == 1
    assert progress == [(1, 1)]
    recorded = await session.get(EmbeddingIndex, 1, populate_existing=True)
    assert recorded is not None
    assert (recorded.embedder, recorded.dimension) == (embedder.name, embedder.dimension)
    chunks = (await session.scalars(select(Chunk.text).where(Chunk.document_id == document_id))).all()
    assert chunks == ["Care\n\nWipe the lid dry."]
