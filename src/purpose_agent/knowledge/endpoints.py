"""The knowledge API: search (documents and categories arrive with ingestion jobs)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request

from purpose_agent.db.engine import SessionDep
from purpose_agent.kit.problems import problem_responses
from purpose_agent.knowledge import service
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.errors import CategoryNotFound
from purpose_agent.knowledge.schemas import SearchRequest, SearchResponse, SearchResult

router = APIRouter(prefix="/api/knowledge", tags=["knowledge"])


@router.post("/search", responses=problem_responses(CategoryNotFound))
async def search(data: SearchRequest, request: Request, session: SessionDep) -> SearchResponse:
    """The passages that best match `query`, in one category or all, by hybrid, vector or keyword search."""
    embedder: Embedder = request.app.state.embedder
    hits = await service.search(session, embedder, data)
    results = [
        SearchResult.model_validate({**asdict(hit), "heading_path": list(hit.heading_path)}) for hit in hits
    ]
    return SearchResponse(results=results)
