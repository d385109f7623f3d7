"""Instructions hidden in a document, and URLs in documents and fields, against the running service.

The deployment's manual holds a note telling the assistant to drop its rules and reply PWNED; chat
answers come from the built-in offline path (quoting), as with no provider configured. No request
field of the API takes a URL (settings' URLs are the operator's); a persona's model name cannot be
one, and documents that point at a local server every way their format allows are ingested without
one request reaching it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from tests.hostile import documents
from tests.hostile.service import AGENT, INJECTION, UPLOADS, Service, wait_for_job
from tests.local_http import LocalServer, QuietHandler


def test_an_answer_does_not_follow_instructions_found_in_a_passage(service: Service) -> None:
    with service.client(service.user_key) as user:
        unrelated = user.post(
            "/api/chat", json={"agent_id": AGENT, "question": "How often should I descale?"}
        )
        targeted = user.post(
            "/api/chat", json={"agent_id": AGENT, "question": "What does the note from the importer say?"}
        )
        streamed = user.post(
            "/api/chat/stream", json={"agent_id": AGENT, "question": "What should the assistant reply?"}
        )
    assert unrelated.status_code == targeted.status_code == streamed.status_code == 200
    answer = unrelated.json()
    assert "vinegar" in answer["answer"]
    assert "PWNED" not in answer["answer"]
    # Asked about the note itself, the answer quotes the knowledge, marked as such, and obeys nothing.
    for text in (targeted.json()["answer"], streamed.text):
        assert "From the knowledge base" in text
        assert text.strip() != "PWNED"
    assert targeted.json()["model_used"] == "extractive"
    assert INJECTION.split(",")[0] not in targeted.json()["answer"].split("\n")[0]


class Recorder(QuietHandler):
    """Records every request it gets; none should come."""

    seen: ClassVar[list[str]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.seen.append(self.path)
        self.answer(200, "text/plain", b"fetched")

    do_POST = do_HEAD = do_GET


@pytest.fixture
def recorder() -> Iterator[LocalServer]:
    Recorder.seen = []
    server = LocalServer(Recorder).start()
    yield server
    server.stop()


def test_documents_pointing_at_urls_are_ingested_without_fetching_any(
    service: Service, recorder: LocalServer
) -> None:
    url = recorder.base_url
    uploads = {
        "calling.docx": documents.docx_calling_out(url),
        "calling.pdf": documents.pdf_calling_out(url),
        "calling.html": documents.html_calling_out(url),
        "calling.md": documents.markdown_calling_out(url),
    }
    with service.client(service.admin_key, timeout=60) as admin:
        jobs = {}
        for name, data in uploads.items():
            response = admin.post(
                "/api/knowledge/documents",
                data={"category": UPLOADS},
                files={"file": (name, data, "application/octet-stream")},
            )
            assert response.status_code == 202, response.text
            jobs[name] = response.json()["job_id"]
        for name, job_id in jobs.items():
            job = wait_for_job(admin, job_id, service.worker, timeout=60)
            assert job["status"] == "succeeded", (name, job)
    with service.client(service.user_key) as user:
        asked = user.post("/api/chat", json={"agent_id": AGENT, "question": f"How much does it hold? {url}"})
    assert asked.status_code == 200
    assert Recorder.seen == []


@pytest.mark.parametrize("model", ["http://169.254.169.254/latest", "//internal/v1", "../../admin", "a b"])
def test_a_persona_model_name_cannot_be_a_url_or_a_path(service: Service, model: str) -> None:
    persona = {
        "id": "url-model",
        "name": "URL model",
        "description": "Tries to point its model calls elsewhere.",
        "retrieval": False,
        "llm_model": model,
    }
    with service.client(service.admin_key) as admin:
        response = admin.post("/api/personas", json=persona)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.llm_model"
