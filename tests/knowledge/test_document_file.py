"""GET /api/knowledge/documents/{id}/file: a document's original file, for the readers it belongs to,
served so that a browser shows it and never runs it."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.auth.limits import make_key, refused
from tests.chat.conftest import create_persona
from tests.conftest import api_client
from tests.knowledge.test_ingestion import manual_pdf, stored_document

HOSTILE_PAGE = b"<!doctype html><title>refunds</title><script>alert(document.domain)</script><p>Refunds."
# A folder path, quotes, a header's separators and non-ASCII letters: none may break the header.
HOSTILE_NAME = 'notes/billing "policy";\r\nX-Evil: 1 r\u00e9sum\u00e9 \u2014 final.html'
# Made once: the PDF carries its creation time, so two makings a second apart differ.
MANUAL = manual_pdf()


@pytest.fixture
async def documents(session: AsyncSession) -> dict[str, uuid.UUID]:
    """The kettle manual (manuals), a page of HTML (billing) and a note no agent answers from (archive);
    `kettle-helper` answers from manuals, `refunds-helper` from billing."""
    stored = {
        "manual": await stored_document(session, MANUAL, "application/pdf", "kettle manual.pdf"),
        "page": await stored_document(session, HOSTILE_PAGE, "text/html", HOSTILE_NAME, "billing"),
        "archived": await stored_document(session, b"Old notes.", "text/plain", "old.txt", "archive"),
    }
    create_persona(session)
    create_persona(session, id="refunds-helper", name="Refunds helper", knowledge_category="billing")
    await session.flush()
    return stored


def file_path(document_id: uuid.UUID) -> str:
    return f"/api/knowledge/documents/{document_id}/file"


async def test_the_file_is_served_as_uploaded_inline_in_a_sandbox(
    client: AsyncClient, documents: dict[str, uuid.UUID]
) -> None:
    response = await client.get(file_path(documents["manual"]))
    assert response.status_code == 200
    assert response.content == MANUAL
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        "inline; filename=\"kettle manual.pdf\"; filename*=UTF-8''kettle%20manual.pdf"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert response.headers["cache-control"] == "private, no-store"

    page = await client.get(file_path(documents["page"]))
    assert page.content == HOSTILE_PAGE
    assert page.headers["content-type"].startswith("text/html")
    assert "sandbox" in page.headers["content-security-policy"], "its script never runs"
    assert "X-Evil" not in page.headers
    assert page.headers["content-disposition"] == (
        'inline; filename="billing _policy____X-Evil: 1 r_sum_ _ final.html"; '
        "filename*=UTF-8''billing%20%22policy%22%3B%0D%0AX-Evil%3A%201%20r%C3%A9sum%C3%A9%20%E2%80%94%20final.html"
    ), "the last part of its path: in ASCII, anything else an underscore; in UTF-8, percent-encoded"


async def test_a_user_reads_only_the_documents_of_the_agents_its_key_may_use(
    app: FastAPI, client: AsyncClient, user_client: AsyncClient, documents: dict[str, uuid.UUID]
) -> None:
    # Unrestricted: the documents of every agent, not those no agent answers from.
    assert (await user_client.get(file_path(documents["manual"]))).status_code == 200
    assert (await user_client.get(file_path(documents["page"]))).status_code == 200
    problem = refused(await user_client.get(file_path(documents["archived"])), 403, "out-of-scope")
    assert problem["detail"] == "This API key may read only the documents its agents answer from."
    assert "archive" not in str(problem), "a category beyond the scope is not named"
    assert (await client.get(file_path(documents["archived"]))).status_code == 200, "admins read any"

    _, kettle_only = await make_key(client, agents=["kettle-helper"], operations=["search"])
    async with api_client(app, kettle_only) as limited:
        assert (await limited.get(file_path(documents["manual"]))).content == MANUAL
        problem = refused(await limited.get(file_path(documents["page"])), 403, "out-of-scope")
        assert problem["allowed_categories"] == ["manuals"]

    _, mcp_only = await make_key(client, operations=["mcp"])
    async with api_client(app, mcp_only) as limited:
        problem = refused(await limited.get(file_path(documents["manual"])), 403, "out-of-scope")
        assert "may not read documents: that needs the operation 'chat' or 'search'" in problem["detail"]


async def test_an_unknown_document_is_a_404_problem_and_a_bad_id_a_422(client: AsyncClient) -> None:
    missing = await client.get(file_path(uuid.uuid4()))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["title"] == "Document not found"
    bad = await client.get("/api/knowledge/documents/not-an-id/file")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "path.document_id"
