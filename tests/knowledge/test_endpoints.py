"""POST /api/knowledge/search as a client sees it: validation, unknown categories, real results."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.ingestion import ingest_document
from tests.app_context import context
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
    embedder: Embedder = context(app).embedder
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


async def test_categories_are_created_listed_and_deleted_when_empty(
    client: AsyncClient, session: AsyncSession
) -> None:
    created = await client.post("/api/knowledge/categories", json={"name": "support", "description": " FAQ "})
    assert created.status_code == 201
    assert created.json()["description"] == "FAQ"

    duplicate = await client.post("/api/knowledge/categories", json={"name": "support"})
    assert duplicate.status_code == 409
    assert duplicate.json()["title"] == "Category already exists"

    bad = await client.post("/api/knowledge/categories", json={"name": "No Spaces!"})
    assert bad.status_code == 422

    await stored_document(session, b"hello", "text/plain", "hello.txt")  # creates "manuals" with one document
    listed = {row["name"]: row["documents"] for row in (await client.get("/api/knowledge/categories")).json()}
    assert listed == {"manuals": 1, "support": 0}

    refused = await client.delete("/api/knowledge/categories/manuals")
    assert refused.status_code == 409
    assert refused.json()["documents"] == 1
    assert (await client.delete("/api/knowledge/categories/support")).status_code == 204
    assert (await client.delete("/api/knowledge/categories/support")).status_code == 404


async def test_documents_are_listed_by_page_and_filter_and_deleted_with_their_chunks(
    app: FastAPI,
    client: AsyncClient,
    session: AsyncSession,
    test_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ids = [
        await stored_document(session, f"note {n}".encode(), "text/plain", f"note-{n}.txt") for n in range(3)
    ]
    await ingest_document(test_sessionmaker, ids[0], context(app).embedder, ChunkingPolicy())

    first_page = (await client.get("/api/knowledge/documents", params={"limit": 2})).json()
    assert (first_page["total"], len(first_page["items"]), first_page["limit"]) == (3, 2, 2)
    ready = (await client.get("/api/knowledge/documents", params={"status": "ready"})).json()
    assert [item["id"] for item in ready["items"]] == [str(ids[0])]
    assert ready["items"][0]["chunk_count"] == 1
    assert (await client.get("/api/knowledge/documents", params={"limit": 0})).status_code == 422
    assert (await client.get("/api/knowledge/documents", params={"status": "lost"})).status_code == 422

    one = (await client.get(f"/api/knowledge/documents/{ids[0]}")).json()
    assert (one["source_name"], one["status"], one["mime"]) == ("note-0.txt", "ready", "text/plain")

    assert (await client.delete(f"/api/knowledge/documents/{ids[0]}")).status_code == 204
    assert (await client.get(f"/api/knowledge/documents/{ids[0]}")).status_code == 404
    hits = await client.post("/api/knowledge/search", json={"query": "note", "mode": "keyword"})
    assert str(ids[0]) not in {hit["document_id"] for hit in hits.json()["results"]}
    assert (await client.get("/api/knowledge/documents/not-a-uuid")).status_code == 422
