"""`purpose-agent up` through the faults a developer's machine meets: its database stopped and started
again under requests, and its worker killed. Real processes throughout (the API, the worker, the
embedded PostgreSQL) on free ports and a data folder of their own (`tests.test_cli.Service`), one
`up` for the module: starting one (a new database, migrated) is most of the time these tests take.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from purpose_agent.db.embedded import EmbeddedPostgres
from tests.llm.fake_upstream import FakeUpstream
from tests.personas.factories import persona_body
from tests.test_cli import Service, printed_admin_key

SAMPLE_PERSONAS = Path(__file__).resolve().parents[2] / "config" / "personas.json"
CATEGORY = "notes"
PLAIN_AGENT = "plain-helper"
NOTE = b"The boiler is serviced every spring by the caretaker.\n\nIts pressure should read 1.5 bar."


@dataclass(frozen=True)
class Up:
    service: Service
    client: httpx.Client  # with the admin key `up` printed


@pytest.fixture(scope="module")
def up(redis_url: str, openai_fake: FakeUpstream) -> Iterator[Up]:
    """`up` with the sample personas, no sample knowledge and a category for uploads, its worker running,
    and OpenAI (the local fake) answering an agent without retrieval.

    Its folder is not below pytest's temporary root: another pytest session on the machine makes that
    private again at its start, and the database's own user could then no longer reach its files."""
    workdir = Path(tempfile.mkdtemp(prefix="purpose-agent-up-"))
    service = Service(workdir, redis_url)
    service.env |= {
        "PERSONAS_FILE": str(SAMPLE_PERSONAS),
        "KNOWLEDGE_SEED_DIR": "none",
        # The worker beats often, so that an outage of a few seconds fails one of its beats.
        "WORKER_HEARTBEAT_SECONDS": "0.5",
        "OPENAI_API_KEY": "sk-test-0001",
        "OPENAI_BASE_URL": f"{openai_fake.base_url}/v1",
        "OPENAI_MAX_RETRIES": "0",
    }
    try:
        service.start()
        key = printed_admin_key(service.output.read_text())
        with httpx.Client(base_url=service.base_url, headers={"X-API-Key": key}, timeout=30) as client:
            assert client.post("/api/knowledge/categories", json={"name": CATEGORY}).status_code == 201
            plain = persona_body(PLAIN_AGENT, retrieval=False, knowledge_category=None)
            assert client.post("/api/personas", json=plain).status_code == 201
            _wait_for_event(service, "Starting worker on all queues")
            yield Up(service, client)
    finally:
        service.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _worker_pid(service: Service) -> int:
    [pid] = re.findall(r"worker:\s+pid (\d+)", service.output.read_text())
    return int(pid)


def _is_worker(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    return cmdline.exists() and b"purpose_agent\0worker" in cmdline.read_bytes()


def _wait_for_event(service: Service, event: str, timeout: float = 60) -> dict[str, Any]:
    """The first log record of `event` in the output of `up` and its children, once it is there."""
    deadline = time.monotonic() + timeout
    while not (found := [record for record in service.log_records() if record["event"] == event]):
        assert time.monotonic() < deadline, f"no {event!r} in:\n{service.output.read_text()[-3000:]}"
        time.sleep(0.2)
    return found[0]


def _ask(client: httpx.Client) -> httpx.Response:
    question = {"agent_id": "general-assistant", "question": "What is Purpose-Agent?"}
    return client.post("/api/chat", json=question)


def _upload(client: httpx.Client, name: str) -> httpx.Response:
    return client.post(
        "/api/knowledge/documents", files={"file": (name, NOTE + name.encode())}, data={"category": CATEGORY}
    )


def _stream_events(client: httpx.Client, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Read a streamed answer of the agent without retrieval, appending each event as it arrives."""
    question = {"agent_id": PLAIN_AGENT, "question": "Tell me a long story."}
    with client.stream("POST", "/api/chat/stream", json=question) as response:
        assert response.status_code == 200
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))


def _ready_eventually(client: httpx.Client, document_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        document: dict[str, Any] = client.get(f"/api/knowledge/documents/{document_id}").json()
        if document["status"] in {"ready", "failed"} or time.monotonic() > deadline:
            return document
        time.sleep(0.3)


def test_a_database_restart_gives_503_problems_meanwhile_and_api_and_worker_recover_by_themselves(
    up: Up, openai_fake: FakeUpstream
) -> None:
    service, client = up.service, up.client
    worker = _worker_pid(service)
    assert _ask(client).status_code == 200
    # A streamed answer in flight when the database stops: 10 tokens, 0.3 s apart.
    openai_fake.reply.chunks, openai_fake.reply.chunk_delay = ["word "] * 10, 0.3
    streamed: list[tuple[str, dict[str, Any]]] = []
    stream = threading.Thread(target=_stream_events, args=(client, streamed))
    stream.start()
    deadline = time.monotonic() + 30
    while not any(name == "token" for name, _ in streamed):
        assert stream.is_alive(), streamed
        assert time.monotonic() < deadline, streamed
        time.sleep(0.05)

    # What `purpose-agent db stop` does, without a command's start-up time: the stream must outlast it.
    database = EmbeddedPostgres(service.workdir / ".data" / "postgres", service.db_port)
    assert database.stop()
    stopped = time.monotonic()
    calls = [
        lambda: _ask(client),
        lambda: _ask(client),
        lambda: client.get("/api/agents"),
        lambda: client.get("/api/knowledge/documents"),
        lambda: _upload(client, "while-down.txt"),
        lambda: client.get("/health/ready"),
    ]

    def timed(call: Any) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        return call(), time.monotonic() - started

    with ThreadPoolExecutor(len(calls)) as pool:
        while_down = list(pool.map(timed, calls))
    stream.join(timeout=30)
    name, problem = streamed[-1]
    assert name == "error", "the answer was streamed, but its exchange could not be stored"
    assert (problem["status"], problem["type"]) == (503, "/problems/database-unavailable")
    for response, seconds in while_down:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert seconds < 5, "fails fast, never hangs"
    # Down longer than the worker waits for a connection (DATABASE_POOL_TIMEOUT_SECONDS, 5 s): its
    # heartbeat fails too, which ends procrastinate's worker run.
    time.sleep(max(0.0, stopped + 6 - time.monotonic()))

    assert database.start().running
    statuses: list[int] = []
    deadline = time.monotonic() + 30
    while not statuses or statuses[-1] != 200:
        assert time.monotonic() < deadline, statuses
        with ThreadPoolExecutor(3) as pool:
            statuses += [response.status_code for response in pool.map(lambda _: _ask(client), range(3))]
    assert set(statuses) <= {200, 503}, "no request ever got a 500"
    assert client.get("/api/agents").status_code == 200, "no pool left with dead connections"

    accepted = _upload(client, "after-restart.txt")
    assert accepted.status_code == 202, accepted.text
    document = _ready_eventually(client, accepted.json()["document_id"])
    assert document["status"] == "ready", document
    assert _worker_pid(service) == worker
    assert _is_worker(worker), "the same worker went on, not a restarted one"
    # Its heartbeat failed (it waited past the pool timeout) and that run of the worker ended; then
    # another run began in the same process (the job may have run in either).
    _wait_for_event(service, "worker_database_lost", timeout=30)
    _wait_for_event(service, "worker_restarting", timeout=30)
    assert _is_worker(worker)
    events = [record["event"] for record in service.log_records()]
    assert "job_listener_down" in events, "its LISTEN connection waited the outage out"
    assert not [event for event in events if event.startswith("Side task listener failed")]


def test_up_restarts_a_worker_that_was_killed_and_the_new_one_processes_uploads(up: Up) -> None:
    service, client = up.service, up.client
    first = _worker_pid(service)
    os.kill(first, signal.SIGKILL)
    restarted = _wait_for_event(service, "process_restarted", timeout=20)
    exited = _wait_for_event(service, "process_exited")
    assert (exited["process"], exited["pid"], exited["exit_code"]) == ("worker", first, -9)
    second = restarted["pid"]
    assert second != first
    assert _is_worker(second)

    accepted = _upload(client, "after-kill.txt")
    assert accepted.status_code == 202, accepted.text
    assert _ready_eventually(client, accepted.json()["document_id"])["status"] == "ready"
