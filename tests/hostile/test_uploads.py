"""Hostile uploads against the running service and its worker: archives and documents built to inflate,
loop or nest without end, and file names that try to climb out of their place. Each is refused at
upload (415) or fails its ingestion job with a readable error, in seconds; the worker's peak memory
and the API's memory stay within bounds, and both go on serving."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.hostile import documents
from tests.hostile.service import UPLOADS, Service, peak_rss_bytes, rss_bytes, wait_for_job

MB = 2**20
WORKER_PEAK_GROWTH = 512 * MB  # the most parsing a hostile document may add to the worker's peak
API_GROWTH = 64 * MB

# name -> (document, the job's end, a phrase of its error)
INGESTED: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "bomb.docx": (lambda: documents.docx_bomb(100 * MB), "failed", "32 MB of XML"),
    "cyclic-pages.pdf": (documents.pdf_cyclic_pages, "failed", "damaged"),
    "deep-nesting.pdf": (lambda: documents.pdf_deep_nesting(100_000), "failed", "damaged"),
    "flate-bomb.pdf": (lambda: documents.pdf_flate_bomb(200 * MB), "failed", "damaged"),
    "self-drawing-form.pdf": (documents.pdf_self_drawing_form, "succeeded", ""),
    "billion-pages.pdf": (documents.pdf_huge_page_count, "succeeded", ""),
}
REFUSED: dict[str, Callable[[], bytes]] = {
    "bomb.zip": lambda: documents.zip_bomb(512 * MB),
    "many-members.docx": lambda: documents.zip_of_many_members(20_000),
}


def upload(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post(
        "/api/knowledge/documents",
        data={"category": UPLOADS},
        files={"file": (name, data, "application/octet-stream")},
    )


def test_documents_built_to_inflate_or_loop_fail_their_jobs_within_bounds(service: Service) -> None:
    worker_peak = peak_rss_bytes(service.worker)
    api_before = rss_bytes(service.api)
    with service.client(service.admin_key, timeout=60) as admin:
        jobs = {}
        for name, (make, _end, _error) in INGESTED.items():
            response = upload(admin, name, make())
            assert response.status_code == 202, response.text
            jobs[name] = response.json()["job_id"]
        for name, refused in REFUSED.items():
            response = upload(admin, name, refused())
            assert response.status_code == 415, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert "ZIP archive" in response.json()["detail"]
        for name, job_id in jobs.items():
            _make, end, error = INGESTED[name]
            job = wait_for_job(admin, job_id, service.worker, timeout=60)
            assert job["status"] == end, (name, job)
            assert error in (job["error"] or ""), (name, job)
        assert admin.get("/health/ready").status_code == 200
    assert peak_rss_bytes(service.worker) - worker_peak < WORKER_PEAK_GROWTH
    assert rss_bytes(service.api) - api_before < API_GROWTH


@pytest.mark.parametrize(
    ("filename", "stored"),
    [
        ("../../etc/passwd", "etc/passwd"),
        ("/etc/passwd", "etc/passwd"),
        ("..\\..\\Windows\\win.ini", "Windows/win.ini"),
        # python-multipart keeps only the last part of a Windows path.
        ("C:\\Users\\me\\kettle.md", "kettle.md"),
        ("....//..//./kettle.md", "..../kettle.md"),
        # The client escapes the NUL; the right-to-left override is dropped.
        ("ket\u0000tle\u202e.md", "ket%00tle.md"),
        ("a" * 300 + ".md", "a" * 252 + ".md"),
    ],
)
def test_a_file_name_never_climbs_out_of_its_category(service: Service, filename: str, stored: str) -> None:
    with service.client(service.admin_key) as admin:
        response = upload(admin, filename, f"# Note\n\nA note named {len(filename)}.\n".encode())
        assert response.status_code in (200, 202), response.text
        document = admin.get(f"/api/knowledge/documents/{response.json()['document_id']}").json()
    assert document["source_name"] == stored
    assert document["category"] == UPLOADS


def test_a_raw_nul_or_an_endless_name_in_a_multipart_header_is_a_clean_refusal_or_dropped(
    service: Service,
) -> None:
    def multipart(filename: bytes) -> bytes:
        return (
            b'--B\r\nContent-Disposition: form-data; name="category"\r\n\r\n' + UPLOADS.encode() + b"\r\n"
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
            b"Content-Type: text/markdown\r\n\r\n# Raw\n\nA raw multipart upload.\r\n--B--\r\n"
        )

    headers = {"content-type": "multipart/form-data; boundary=B"}
    with service.client(service.admin_key) as admin:
        nul = admin.post("/api/knowledge/documents", content=multipart(b"../ket\x00tle.md"), headers=headers)
        endless = admin.post("/api/knowledge/documents", content=multipart(b"a" * 5000), headers=headers)
        assert nul.status_code in (200, 202), nul.text
        stored = admin.get(f"/api/knowledge/documents/{nul.json()['document_id']}").json()["source_name"]
    assert stored == "kettle.md"
    assert endless.status_code == 400
    assert endless.headers["content-type"] == "application/problem+json"
