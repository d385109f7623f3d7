"""Knowledge queries used by the API, chat and MCP alike."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.errors import CategoryNotFound
from purpose_agent.knowledge.models import Category
from purpose_agent.knowledge.schemas import SearchRequest
from purpose_agent.knowledge.search import SearchHit, SearchMode, search_chunks


async def search(session: AsyncSession, embedder: Embedder, request: SearchRequest) -> list[SearchHit]:
    """Search the knowledge base; an unknown category is a 404, not an empty answer."""
    if request.category is not None and await session.get(Category, request.category) is None:
        raise CategoryNotFound(f"There is no category named '{request.category}'.")
    embedding = None
    if request.mode is not SearchMode.keyword:
        [embedding] = await embedder.embed([request.query])
    return await search_chunks(
        session,
        query=request.query,
        embedding=embedding,
        dimension=embedder.dimension,
        top_k=request.top_k,
        category=request.category,
        mode=request.mode,
        min_score=request.min_score,
    )
