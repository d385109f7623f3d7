"""Real `purpose-agent worker` processes against the test database, fed through the real API.

These tests commit (a worker only sees committed rows), so each cleans the knowledge and job
tables when it ends. The workers beat and look for stalled jobs every second or so, to keep the
tests short; production uses the defaults.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from purpose_agent.app import create_app
from purpose_agent.auth.keys import create_key
from purpose_agent.auth.principal import Role
from purpose_agent.jobs.queue import libpq_url
from purpose_agent.knowledge.index import HNSW_INDEX
from purpose_agent.settings import Settings
from tests.conftest import LogCapture, api_client
from tests.knowledge.test_ingestion import manual_pdf
from tests.metrics import METRICS_PATH, Scrape, scraped
from tests.ports import free_port, refused_url

FAST_WORKER = {
    "WORKER_HEARTBEAT_SECONDS": "0.5",
    "WORKER_STALLED_AFTER_SECONDS": "2",
    "WORKER_STALLED_CHECK_SECONDS": "1",
    "INGEST_RETRY_BACKOFF_SECONDS": "1",
    # No metrics port unless a test asks for one: workers of one test, or of others, never collide.
    "WORKER_METRICS_PORT": "0",
}


class Workers:
    """Worker processes started for one test, killed by pid at its end."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("EMBEDDER", "INGEST_", "WORKER_"))},
            "DATABASE_URL": libpq_url(database_url),
            **FAST_WORKER,
        }
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        with (self.workdir / f"worker-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "purpose_agent", "worker"],
                cwd=self.workdir,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def output(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.workdir.glob("worker-*.log")))

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(database_url, tmp_path)
    yield running
    running.stop_all()


@pytest.fixture
async def live_client(
    settings: Settings, engine: AsyncEngine, logs: LogCapture
) -> AsyncIterator[AsyncClient]:
    """The API with sessions that really commit; the tables it filled are emptied afterwards."""
    application = create_app(settings, engine=engine)
    try:
        async with AsyncSession(engine) as session, session.begin():
            key = (await create_key(session, name="worker test admin", role=Role.admin)).secret
        async with LifespanManager(application), api_client(application, key) as client:
            yield client
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "TRUNCATE documents, categories, embedding_index, api_keys, audit_log, "
                    "procrastinate_jobs, procrastinate_workers, procrastinate_periodic_defers CASCADE"
                )
            )
            # Built for the embedder these tests recorded; other tests record their own.
            await connection.execute(text(f"DROP INDEX IF EXISTS {HNSW_INDEX}"))


async def eventually(
    probe: Callable[[], Any], until: Callable[[Any], bool], *, timeout: float = 120, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: last {value!r}")
        await asyncio.sleep(0.2)


async def upload(client: AsyncClient, name: str, data: bytes) -> dict[str, Any]:
    response = await client.post(
        "/api/knowledge/documents", files={"file": (name, data)}, data={"category": "manuals"}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def job_of(client: AsyncClient, job_id: int) -> Callable[[], Any]:
    async def probe() -> dict[str, Any]:
        response = await client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    return probe


FINAL = {"succeeded", "failed"}


async def test_uploads_become_searchable_and_a_bad_pdf_fails_alone(
    live_client: AsyncClient, workers: Workers
) -> None:
    assert (await live_client.post("/api/knowledge/categories", json={"name": "manuals"})).status_code == 201
    corrupt = await upload(live_client, "broken.pdf", manual_pdf()[:400])
    empty = await upload(live_client, "empty.txt", b"   \n\n  ")
    good = await upload(live_client, "kettle.pdf", manual_pdf())
    workers.start()

    done = await eventually(
        job_of(live_client, good["job_id"]), lambda job: job["status"] in FINAL, what="the good document"
    )
    assert done["status"] == "succeeded", workers.output()
    assert done["document"]["status"] == "ready"
    assert done["progress"]["pages_parsed"] == 3
    assert (
        done["progress"]["chunks_embedded"]
        == done["progress"]["chunks_total"]
        == done["document"]["chunk_count"]
    )
    assert done["finished_at"] is not None

    for bad in (corrupt, empty):
        failed = await eventually(job_of(live_client, bad["job_id"]), lambda job: job["status"] in FINAL)
        assert failed["status"] == "failed"
        assert failed["attempts"] == 1, "a document that cannot be parsed is not retried"
        assert failed["document"]["status"] == "failed"
        assert failed["error"], "the error is readable by the uploader"

    hits = await live_client.post(
        "/api/knowledge/search",
        json={"query": "How long is the heating element covered?", "category": "manuals"},
    )
    first = hits.json()["results"][0]
    assert (first["source_name"], first["page"], first["heading_path"]) == ("kettle.pdf", 3, ["Warranty"])


def long_manual(sections: int = 60) -> bytes:
    parts = []
    for n in range(sections):
        sentences = " ".join(
            f"Step {n}.{k}: turn dial {n} to position {k} and wait for the amber lamp to glow."
            for k in range(12)
        )
        parts.append(f"## Procedure {n}\n\n{sentences}\n")
    return ("# Service manual\n\n" + "\n".join(parts)).encode()


async def test_a_worker_killed_mid_job_leaves_no_half_document_and_another_finishes_it(
    live_client: AsyncClient, workers: Workers, engine: AsyncEngine
) -> None:
    assert (await live_client.post("/api/knowledge/categories", json={"name": "manuals"})).status_code == 201
    queued = await upload(live_client, "service.md", long_manual())
    first = workers.start()

    embedding = await eventually(
        job_of(live_client, queued["job_id"]),
        lambda job: job["progress"]["chunks_embedded"] > 0 and job["status"] == "doing",
        what="the first worker to be embedding",
    )
    assert embedding["progress"]["chunks_embedded"] < embedding["progress"]["chunks_total"]
    first.kill()  # SIGKILL: no cleanup, its job stays "doing"
    first.wait()

    async with engine.connect() as connection:
        chunks = await connection.scalar(
            text("SELECT count(*) FROM chunks WHERE document_id = :id"), {"id": queued["document_id"]}
        )
    assert chunks == 0, "nothing of a half-done ingestion is visible"

    metrics_port = free_port()
    workers.start(WORKER_METRICS_PORT=str(metrics_port))
    done = await eventually(
        job_of(live_client, queued["job_id"]),
        lambda job: job["status"] in FINAL,
        what="the second worker to finish the re-queued job",
    )
    assert done["status"] == "succeeded", workers.output()
    assert done["attempts"] == 2, "the killed run counts as an attempt"
    assert "its worker stopped" in workers.output()
    assert worker_metrics(metrics_port).value("purpose_agent_jobs_requeued_total") >= 1

    document = (await live_client.get(f"/api/knowledge/documents/{queued['document_id']}")).json()
    assert (document["status"], document["attempts"]) == ("ready", 2)
    async with engine.connect() as connection:
        total, distinct = (
            await connection.execute(
                text("SELECT count(*), count(DISTINCT chunk_index) FROM chunks WHERE document_id = :id"),
                {"id": queued["document_id"]},
            )
        ).one()
    assert total == distinct == document["chunk_count"]


async def test_a_failing_embedder_is_retried_with_backoff_and_the_document_ends_failed(
    live_client: AsyncClient, workers: Workers
) -> None:
    assert (await live_client.post("/api/knowledge/categories", json={"name": "manuals"})).status_code == 201
    queued = await upload(live_client, "care.md", b"# Care\n\nWipe the lid dry after use.\n")
    workers.start(EMBEDDER="ollama", EMBEDDER_BASE_URL=refused_url(), INGEST_ATTEMPTS="2")

    retrying = await eventually(
        job_of(live_client, queued["job_id"]),
        lambda job: job["error"] is not None,
        what="the first failed attempt",
    )
    assert "attempt 1 of 2" in retrying["error"]
    done = await eventually(job_of(live_client, queued["job_id"]), lambda job: job["status"] in FINAL)
    assert (done["status"], done["attempts"], done["document"]["status"]) == ("failed", 2, "failed")
    assert "attempt" not in done["error"]
    assert done["error"].startswith("EmbeddingError")


def worker_metrics(port: int, **headers: str) -> Scrape:
    """A scrape of a worker's metrics port, as a client on this machine."""
    return scraped(httpx.get(f"http://127.0.0.1:{port}{METRICS_PATH}", headers=headers, timeout=5))


TOKEN = "worker-scrape-token-0123456789"
INGEST = {"task": "knowledge.ingest_document"}


async def test_a_worker_serves_its_job_metrics_on_its_own_port(
    live_client: AsyncClient, workers: Workers
) -> None:
    assert (await live_client.post("/api/knowledge/categories", json={"name": "manuals"})).status_code == 201
    corrupt = await upload(live_client, "broken.pdf", manual_pdf()[:400])
    good = await upload(live_client, "kettle.pdf", manual_pdf())
    port = free_port()
    workers.start(WORKER_METRICS_PORT=str(port), METRICS_TOKEN=TOKEN)

    done = await eventually(job_of(live_client, good["job_id"]), lambda job: job["status"] in FINAL)
    assert done["status"] == "succeeded", workers.output()
    await eventually(job_of(live_client, corrupt["job_id"]), lambda job: job["status"] in FINAL)

    async def scrape_worker() -> Scrape:
        return worker_metrics(port)

    # The queue's depth is read every 15 s: until it has seen both jobs end.
    metrics = await eventually(
        scrape_worker,
        lambda scrape: (
            scrape.value("purpose_agent_jobs", state="succeeded") >= 1
            and scrape.value("purpose_agent_jobs", state="failed") >= 1
        ),
        timeout=45,
        what="the queue's depth to be read again",
    )
    duration = "purpose_agent_job_duration_seconds_count"
    assert metrics.value(duration, **INGEST, outcome="succeeded") == 1
    assert metrics.value(duration, **INGEST, outcome="failed") == 1, "the document that cannot be parsed"
    assert metrics.value("purpose_agent_job_failures_total", **INGEST) == 1
    assert metrics.value("purpose_agent_chunks_embedded_total") == done["document"]["chunk_count"]
    assert metrics.value("purpose_agent_jobs", state="todo") == 0
    assert metrics.value("purpose_agent_oldest_queued_job_age_seconds") == 0
    assert metrics.has("purpose_agent_build_info")
    assert metrics.has("process_resident_memory_bytes")
    assert "purpose_agent_http_requests" not in metrics.families, "the API's families are the API's"

    # Through a proxy, a client is never taken for a local one: it needs the token.
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    refused = httpx.get(f"http://127.0.0.1:{port}{METRICS_PATH}", headers=forwarded, timeout=5)
    assert (refused.status_code, refused.headers["content-type"]) == (403, "application/problem+json")
    assert refused.json()["type"] == "/problems/metrics-forbidden"
    assert worker_metrics(port, **forwarded, Authorization=f"Bearer {TOKEN}").has("purpose_agent_jobs")
    assert httpx.get(f"http://127.0.0.1:{port}/jobs", timeout=5).status_code == 404, "metrics only"


def test_a_worker_whose_metrics_port_is_taken_stops_with_one_line_naming_the_setting(
    workers: Workers,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = workers.start(WORKER_METRICS_PORT=str(port))
        assert process.wait(timeout=60) == 2
    errors = [line for line in workers.output().splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot serve metrics on 127.0.0.1:{port} (Address already in use); "
        "change WORKER_METRICS_HOST and WORKER_METRICS_PORT (port 0: no metrics)"
    ]
