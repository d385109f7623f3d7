"""POST /api/knowledge/search as a client sees it: validation, unknown categories, real results."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.ingestion import ingest_document
from tests.knowledge.test_ingestion import manual_pdf, stored_document


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "kettle", "top_k": 0}, "body.top_k"),
        ({"query": "kettle", "top_k": 500}, "body.top_k"),
        ({"query": "   "}, "body.query"),
        ({"query": "kettle", "category": "Not A Category!"}, "body.category"),
        ({"query": "kettle", "mode": "psychic"}, "body.mode"),
    ],
)
async def test_bad_search_input_is_a_422_problem_naming_the_field(
    client: AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/api/knowledge/search", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_an_unknown_category_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.post("/api/knowledge/search", json={"query": "kettle", "category": "nowhere"})
    assert response.status_code == 404
    assert response.json()["title"] == "Category not found"


async def test_search_returns_the_page_source_heading_and_ranks(
    app: FastAPI,
    client: AsyncClient,
    session: AsyncSession,
    test_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    embedder: Embedder = app.state.embedder
    document_id = await stored_document(session, manual_pdf(), "application/pdf", "kettle.pdf")
    await ingest_document(test_sessionmaker, document_id, embedder, ChunkingPolicy())

    response = await client.post(
        "/api/knowledge/search", json={"query": "descale with vinegar", "category": "manuals", "top_k": 2}
    )
    assert response.status_code == 200
    first = response.json()["results"][0]
    assert (first["source_name"], first["page"], first["heading_path"]) == ("kettle.pdf", 2, ["Cleaning"])
    assert first["document_id"] == str(document_id)
    assert first["vector_rank"] is not None
    assert first["keyword_rank"] == 1
