"""Knowledge operations used by the API, chat and MCP alike."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.auth.principal import Principal
from purpose_agent.auth.scopes import check_category
from purpose_agent.knowledge import repository
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.errors import (
    CategoryExists,
    CategoryNotEmpty,
    CategoryNotFound,
    DocumentNotFound,
)
from purpose_agent.knowledge.models import Category, Document
from purpose_agent.knowledge.schemas import SearchRequest
from purpose_agent.knowledge.search import SearchHit, SearchMode, search_chunks


class AgentCategories(Protocol):
    """The categories agents answer from (personas, injected: knowledge does not read personas)."""

    async def categories_of(self, session: AsyncSession, agent_ids: Collection[str]) -> frozenset[str]: ...


async def scoped_search(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    agents: AgentCategories,
    principal: Principal,
    request: SearchRequest,
) -> list[SearchHit]:
    """`search` within what the principal may read: a principal limited to some agents searches only
    their categories (403 for another one named; all of theirs when none is)."""
    if principal.scope.agents is None:
        return await search(sessionmaker, embedder, request)
    async with sessionmaker() as session:
        allowed = await agents.categories_of(session, principal.scope.agents)
    if request.category is not None:
        check_category(principal, request.category, allowed)
    if not allowed:
        return []  # its agents answer from no category
    return await search(sessionmaker, embedder, request, categories=allowed)


async def search(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    request: SearchRequest,
    categories: Collection[str] | None = None,
) -> list[SearchHit]:
    """Search the knowledge base (within `categories` when given); an unknown category is a 404, not an
    empty answer.

    The query is embedded before the transaction begins: no connection waits on the model."""
    embedding = None
    if request.mode is not SearchMode.keyword:
        [embedding] = await embedder.embed([request.query])
    async with sessionmaker() as session:
        if request.category is not None and await session.get(Category, request.category) is None:
            raise CategoryNotFound(f"There is no category named '{request.category}'.")
        return await search_chunks(
            session,
            query=request.query,
            embedding=embedding,
            dimension=embedder.dimension,
            top_k=request.top_k,
            category=request.category,
            categories=sorted(categories) if categories is not None else None,
            mode=request.mode,
            min_score=request.min_score,
        )


async def create_category(session: AsyncSession, name: str, description: str) -> Category:
    """A new category; 409 when the name is taken."""
    if await session.get(Category, name) is not None:
        raise CategoryExists(f"A category named '{name}' already exists.")
    category = Category(name=name, description=description)
    session.add(category)
    await session.flush()
    await session.refresh(category)
    return category


async def delete_category(session: AsyncSession, name: str) -> None:
    """Delete an empty category; 404 when unknown, 409 while documents remain."""
    category = await session.get(Category, name)
    if category is None:
        raise CategoryNotFound(f"There is no category named '{name}'.")
    documents = await repository.count_documents(session, name)
    if documents:
        raise CategoryNotEmpty(
            f"The category '{name}' still holds {documents} document(s); delete them first.",
            documents=documents,
        )
    await session.delete(category)
    await session.flush()


async def get_document(session: AsyncSession, document_id: uuid.UUID) -> Document:
    """The document; 404 when unknown."""
    document = await repository.get_document(session, document_id)
    if document is None:
        raise DocumentNotFound(f"There is no document with id {document_id}.")
    return document


async def delete_document(session: AsyncSession, document_id: uuid.UUID) -> None:
    """Delete a document; its bytes and chunks go with it."""
    await session.delete(await get_document(session, document_id))
    await session.flush()
