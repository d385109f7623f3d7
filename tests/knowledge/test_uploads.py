"""POST /api/knowledge/documents and re-ingest as a client sees them: status codes, problems, queued jobs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.app import create_app
from purpose_agent.knowledge.models import Category, Document
from purpose_agent.settings import Settings
from tests.app_context import swap_context
from tests.conftest import LogCapture, api_client
from tests.knowledge.test_ingestion import manual_pdf

ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(200)


async def upload(
    client: AsyncClient, data: bytes, name: str = "kettle.pdf", category: str = "manuals"
) -> tuple[int, dict[str, object]]:
    response = await client.post(
        "/api/knowledge/documents",
        files={"file": (name, data, "application/octet-stream")},
        data={"category": category},
    )
    return response.status_code, response.json()


async def queued_job(session: AsyncSession, job_id: object) -> tuple[str, str, dict[str, str]] | None:
    row = (
        await session.execute(
            text("SELECT task_name, status::text, args FROM procrastinate_jobs WHERE id = :id"),
            {"id": job_id},
        )
    ).first()
    return (row[0], row[1], row[2]) if row is not None else None


@pytest.fixture
async def manuals(session: AsyncSession) -> None:
    session.add(Category(name="manuals", description="product manuals"))
    await session.flush()


@pytest.mark.usefixtures("manuals")
async def test_an_upload_is_stored_with_its_detected_type_and_queues_one_job(
    client: AsyncClient, session: AsyncSession
) -> None:
    # The client claims text; the bytes are a PDF, and the PDF parser is what the job will use.
    response = await client.post(
        "/api/knowledge/documents",
        files={"file": ("../../etc/kettle.pdf", manual_pdf(), "text/plain")},
        data={"category": "manuals"},
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["outcome"]) == ("queued", "created")

    document = await session.get(Document, uuid.UUID(body["document_id"]))
    assert document is not None
    assert (document.source_name, document.mime, document.job_id) == (
        "etc/kettle.pdf",
        "application/pdf",
        body["job_id"],
    )
    assert await queued_job(session, body["job_id"]) == (
        "knowledge.ingest_document",
        "todo",
        {"document_id": body["document_id"]},
    )

    job = (await client.get(f"/api/jobs/{body['job_id']}")).json()
    assert (job["status"], job["attempts"], job["document"]["id"]) == ("todo", 0, body["document_id"])
    assert job["progress"] == {"pages_parsed": 0, "chunks_embedded": 0, "chunks_total": 0}
    assert job["created_at"] is not None
    assert job["finished_at"] is None


@pytest.mark.usefixtures("manuals")
async def test_the_same_file_again_changes_nothing_and_a_changed_file_reuses_the_waiting_job(
    client: AsyncClient, session: AsyncSession
) -> None:
    status, first = await upload(client, b"# Care\n\nWipe the lid.\n", "care.md")
    assert status == 202
    status, again = await upload(client, b"# Care\n\nWipe the lid.\n", "care.md")
    assert (status, again["outcome"], again["job_id"]) == (200, "unchanged", first["job_id"])

    status, changed = await upload(client, b"# Care\n\nDry the lid.\n", "care.md")
    assert (status, changed["outcome"], changed["document_id"]) == (202, "replaced", first["document_id"])
    # The first job has not run yet: it will read the new bytes, so no second job is queued.
    assert changed["job_id"] == first["job_id"]
    count = await session.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE queueing_lock = :lock"),
        {"lock": first["document_id"]},
    )
    assert count == 1


@pytest.mark.usefixtures("manuals")
async def test_a_disguised_executable_is_a_415_problem_and_nothing_is_stored(
    client: AsyncClient, session: AsyncSession
) -> None:
    response = await client.post(
        "/api/knowledge/documents",
        files={"file": ("report.pdf", ELF, "application/pdf")},
        data={"category": "manuals"},
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert "executable" in response.json()["detail"]
    assert await session.scalar(text("SELECT count(*) FROM documents")) == 0


async def test_an_unknown_category_is_a_404_problem(client: AsyncClient) -> None:
    status, body = await upload(client, b"hello", "hello.txt", category="nowhere")
    assert status == 404
    assert body["title"] == "Category not found"


@pytest.mark.parametrize(
    ("files", "data", "field"),
    [
        ({}, {"category": "manuals"}, "body.file"),
        ({"file": ("a.txt", b"hello", "text/plain")}, {}, "body.category"),
        ({"file": ("a.txt", b"hello", "text/plain")}, {"category": "Not Valid"}, "body.category"),
    ],
)
async def test_a_malformed_upload_is_a_422_problem_naming_the_field(
    client: AsyncClient, files: dict[str, tuple[str, bytes, str]], data: dict[str, str], field: str
) -> None:
    response = await client.post("/api/knowledge/documents", files=files or None, data=data)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.fixture
async def small_limit_client(
    settings: Settings,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    logs: LogCapture,
    admin_key: str,
) -> AsyncIterator[AsyncClient]:
    from asgi_lifespan import LifespanManager

    application: FastAPI = create_app(settings.changed(upload_max_bytes=4096))
    async with LifespanManager(application):
        swap_context(application, sessionmaker=test_sessionmaker)
        async with api_client(application, admin_key) as client:
            yield client


@pytest.mark.usefixtures("manuals")
async def test_a_file_over_the_limit_is_a_413_problem_before_anything_is_stored(
    small_limit_client: AsyncClient, session: AsyncSession
) -> None:
    just_over = b"a" * 4097
    status, body = await upload(small_limit_client, just_over, "big.txt")
    assert (status, body["title"], body["limit_bytes"]) == (413, "Document too large", 4096)

    # Far over: refused from the declared length, before the body is read.
    status, body = await upload(small_limit_client, b"a" * 200_000, "huge.txt")
    assert status == 413
    assert await session.scalar(text("SELECT count(*) FROM documents")) == 0

    status, _ = await upload(small_limit_client, b"a" * 4096, "fits.txt")
    assert status == 202


@pytest.mark.usefixtures("manuals")
async def test_reingest_queues_a_new_job_and_unknown_documents_are_404(
    client: AsyncClient, session: AsyncSession
) -> None:
    _, first = await upload(client, b"# Care\n\nWipe the lid.\n", "care.md")
    # The waiting job is taken by a worker (simulated by its state): a re-ingest needs a new one.
    await session.execute(
        text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"), {"id": first["job_id"]}
    )
    response = await client.post(f"/api/knowledge/documents/{first['document_id']}/reingest")
    assert response.status_code == 202
    assert response.json()["job_id"] != first["job_id"]
    assert (await client.post(f"/api/knowledge/documents/{uuid.uuid4()}/reingest")).status_code == 404


async def test_an_unknown_job_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.get("/api/jobs/987654321")
    assert response.status_code == 404
    assert response.json()["title"] == "Job not found"
    assert (await client.get("/api/jobs/0")).status_code == 422
    assert (await client.get("/api/jobs/abc")).status_code == 422
