"""Every SQL statement of the knowledge API's categories and documents (search lives in search.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.knowledge.models import Category, Document, DocumentContent


async def list_categories(session: AsyncSession) -> list[tuple[Category, int]]:
    """Every category with how many documents it holds, by name."""
    counts = select(Document.category, func.count().label("documents")).group_by(Document.category).subquery()
    rows = await session.execute(
        select(Category, func.coalesce(counts.c.documents, 0))
        .outerjoin(counts, counts.c.category == Category.name)
        .order_by(Category.name)
    )
    return [(category, int(documents)) for category, documents in rows]


async def count_documents(session: AsyncSession, category: str) -> int:
    return int(await session.scalar(select(func.count()).where(Document.category == category)) or 0)


async def list_documents(
    session: AsyncSession, *, category: str | None, status: str | None, limit: int, offset: int
) -> tuple[list[Document], int]:
    """One page of documents, newest first, and how many match in all."""
    query = select(Document)
    if category is not None:
        query = query.where(Document.category == category)
    if status is not None:
        query = query.where(Document.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    documents = await session.scalars(
        query.order_by(Document.created_at.desc(), Document.id).limit(limit).offset(offset)
    )
    return list(documents), int(total or 0)


async def get_document(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    return await session.get(Document, document_id)


async def document_data(session: AsyncSession, document_id: uuid.UUID) -> bytes | None:
    """The document's bytes as they were uploaded."""
    data: bytes | None = await session.scalar(
        select(DocumentContent.data).where(DocumentContent.document_id == document_id)
    )
    return data


async def documents_of_jobs(session: AsyncSession, job_ids: list[int]) -> list[Document]:
    """The documents those ingestion jobs are about, by category and name."""
    statement = (
        select(Document).where(Document.job_id.in_(job_ids)).order_by(Document.category, Document.source_name)
    )
    return list(await session.scalars(statement))
