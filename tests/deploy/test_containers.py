"""The image built from the Dockerfile, run as production runs it: two API containers and one worker
container behind nginx (round-robin), sharing PostgreSQL and Redis, behave as one service, and
survive the loss of an API replica under load and of a worker mid-ingestion.

Answers come from the offline default (no provider key: quotes of the passages), so the run needs
no network beyond the package index the image build installs from.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import PROJECT_ROOT
from tests.databases import fresh_database
from tests.deploy.containers import Nginx, Podman, missing_tools, wait_ready
from tests.ports import free_port

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))

TAG = "localhost/purpose-agent:test"
CHAT_LIMIT = 10
CLIENT_THREADS = 4
SUPPORT_DOCUMENT = PROJECT_ROOT / "knowledge" / "support" / "errors-and-troubleshooting.md"
QUESTION = "What does a 413 error mean?"
# Measurements of this run, for the report (docs/DEPLOYMENT.md quotes them).
MEASURED = PROJECT_ROOT / ".data" / "container-test.json"


@dataclass
class Stack:
    podman: Podman
    database_url: str
    env: dict[str, str]
    proxy: Nginx
    admin_key: str
    apis: dict[str, str] = field(default_factory=dict)  # container id -> its base URL
    workers: list[str] = field(default_factory=list)
    measured: dict[str, float] = field(default_factory=dict)

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": key or self.admin_key}
        return httpx.Client(base_url=self.proxy.base_url, headers=headers, timeout=60)

    def start_worker(self) -> str:
        worker = self.podman.start(f"pa-test-worker-{uuid.uuid4().hex[:8]}", TAG, self.env, "worker")
        self.workers.append(worker)
        return worker

    def user_key(self) -> str:
        with self.client() as admin:
            created = admin.post("/api/keys", json={"name": f"user {uuid.uuid4().hex[:6]}", "role": "user"})
        assert created.status_code == 201, created.text
        key: str = created.json()["key"]
        return key


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    engine = Podman()
    yield engine
    engine.remove_all()


@pytest.fixture(scope="module")
def image(podman: Podman) -> str:
    started = time.monotonic()
    podman.build(TAG, podman.base_image())
    _measure("build_seconds", time.monotonic() - started)
    size = int(podman.run("image", "inspect", "--format", "{{.Size}}", TAG).stdout.strip())
    _measure("image_megabytes", size / 1e6)
    return TAG


@pytest.fixture(scope="module")
def stack(
    podman: Podman, image: str, database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    secrets = tmp_path_factory.mktemp("secrets")
    jwt_secret = secrets / "jwt_secret"
    jwt_secret.write_text(uuid.uuid4().hex + uuid.uuid4().hex + "\n")
    jwt_secret.chmod(0o644)
    with fresh_database(database_url) as url:
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "JWT_SECRET_FILE": "/run/secrets/jwt_secret",
            "HOST": "127.0.0.1",
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "RATE_LIMIT_KEY_PREFIX": f"test:{uuid.uuid4().hex}:rate-limit",
            "RATE_LIMIT_CHAT": f"{CHAT_LIMIT}/minute",
            "WORKER_HEARTBEAT_SECONDS": "1",
            "WORKER_STALLED_AFTER_SECONDS": "4",
            "WORKER_STALLED_CHECK_SECONDS": "1",
            # On the host's network a fixed metrics port may be taken by another program.
            "WORKER_METRICS_PORT": "0",
        }
        secret_mount = f"{jwt_secret}:/run/secrets/jwt_secret:ro"
        one_off_env = {**env, "JWT_SECRET": jwt_secret.read_text().strip()}
        del one_off_env["JWT_SECRET_FILE"]
        for command in (["migrate"], ["personas", "import", "/app/config/personas.json"]):
            result = podman.once(image, one_off_env, *command)
            assert result.returncode == 0, result.stderr
        created = podman.once(image, one_off_env, "keys", "create", "--role", "admin", "--name", "test")
        assert created.returncode == 0, created.stderr
        admin_key = created.stdout.strip().splitlines()[-1]

        apis = {}
        for _ in range(2):
            port = free_port()
            started = time.monotonic()
            container = podman.start(
                f"pa-test-api-{port}", image, {**env, "PORT": str(port)}, "serve", volumes=(secret_mount,)
            )
            base_url = f"http://127.0.0.1:{port}"
            wait_ready(base_url)
            _measure("start_to_ready_seconds", time.monotonic() - started)
            apis[container] = base_url
        proxy = Nginx(free_port(), [int(url.rsplit(":", 1)[1]) for url in apis.values()]).start()
        built = Stack(podman, url, one_off_env, proxy, admin_key, apis)
        built.start_worker()
        try:
            yield built
        finally:
            proxy.stop()
            podman.remove_all()


def _measure(name: str, value: float) -> None:
    MEASURED.parent.mkdir(exist_ok=True)
    known = json.loads(MEASURED.read_text()) if MEASURED.exists() else {}
    known[name] = round(value, 2)
    MEASURED.write_text(json.dumps(known, indent=2) + "\n")


def one_line_failure(result: Any) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "level=error" not in line]
    [line] = lines
    return str(line)


def test_bad_input_stops_a_container_at_once_with_one_line(
    podman: Podman, image: str, database_url: str
) -> None:
    secret = "0123456789abcdef0123456789abcdef"
    # Production (the image's default) without DATABASE_URL would use the embedded database.
    line = one_line_failure(podman.once(image, {"JWT_SECRET": secret}, "serve"))
    assert "refusing to start in production" in line
    assert "DATABASE_URL is not set: the embedded database is for development only" in line
    # The image carries no embedded database at all.
    line = one_line_failure(podman.once(image, {"APP_ENV": "development"}, "db", "start"))
    assert "pip install 'purpose-agent[embedded-db]'" in line
    # A secret file that was not mounted.
    missing = {"JWT_SECRET_FILE": "/run/secrets/jwt_secret", "DATABASE_URL": "postgresql://db/x"}
    line = one_line_failure(podman.once(image, missing, "serve"))
    assert line == "error: JWT_SECRET_FILE: cannot read /run/secrets/jwt_secret: No such file or directory"
    # A secrets provider whose SDK the image does not carry.
    vault = {"SECRETS_PROVIDER": "vault", "VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "x"}
    line = one_line_failure(podman.once(image, vault, "migrate"))
    assert line.endswith("its SDK is not installed: pip install 'purpose-agent[vault]'")
    # The migration against a server without pgvector.
    with fresh_database(database_url, pgvector=False) as url:
        line = one_line_failure(podman.once(image, {"DATABASE_URL": url, "JWT_SECRET": secret}, "migrate"))
    assert "has no pgvector extension" in line


def test_the_image_is_slim_runs_as_non_root_on_a_read_only_root_and_reports_healthy(stack: Stack) -> None:
    measured = json.loads(MEASURED.read_text())
    assert measured["image_megabytes"] < 700
    assert measured["start_to_ready_seconds"] < 10
    for container in stack.apis:
        uid = stack.podman.run("exec", container, "python3", "-c", "import os; print(os.getuid())")
        assert uid.stdout.strip() == "10001"
        written = stack.podman.run("exec", container, "touch", "/app/written", check=False)
        assert written.returncode != 0
        assert "Read-only file system" in written.stderr
        stack.podman.run("healthcheck", "run", container)
        status = stack.podman.run("inspect", "--format", "{{.State.Health.Status}}", container)
        assert status.stdout.strip() == "healthy"
    user = stack.podman.run("image", "inspect", "--format", "{{.Config.User}}", TAG).stdout.strip()
    assert user == "10001:10001"


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def wait_for_job(client: httpx.Client, job_id: int, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def upload(client: httpx.Client, category: str, name: str, data: bytes) -> httpx.Response:
    return client.post(
        "/api/knowledge/documents", data={"category": category}, files={"file": (name, data, "text/markdown")}
    )


def test_the_replicas_behave_as_one_service(stack: Stack) -> None:
    with stack.client() as admin:
        assert admin.post("/api/knowledge/categories", json={"name": "support"}).status_code == 201
        queued = upload(admin, "support", SUPPORT_DOCUMENT.name, SUPPORT_DOCUMENT.read_bytes())
        assert queued.status_code == 202, queued.text
        # The worker container ingests it; every replica sees the job and the document.
        job = wait_for_job(admin, queued.json()["job_id"])
        assert job["status"] == "succeeded", job
        for _ in range(2):
            document = admin.get(f"/api/knowledge/documents/{queued.json()['document_id']}").json()
            assert document["status"] == "ready"
        again = upload(admin, "support", SUPPORT_DOCUMENT.name, SUPPORT_DOCUMENT.read_bytes())
        assert again.status_code == 200
        assert again.json()["outcome"] == "unchanged"

    key = stack.user_key()
    with stack.client(key) as user:
        first = user.post("/api/chat", json={"agent_id": "support-agent", "question": QUESTION})
        assert first.status_code == 200, first.text
        assert first.json()["citations"]
        assert first.json()["citations"][0]["source"] == SUPPORT_DOCUMENT.name
        session_id = first.json()["session_id"]
        # The follow-up reaches the other replica (round-robin) and continues the same session.
        follow_up = {
            "agent_id": "support-agent",
            "question": "And how do I avoid it?",
            "session_id": session_id,
        }
        second = user.post("/api/chat", json=follow_up)
        assert second.status_code == 200, second.text
        assert second.json()["session_id"] == session_id
        history = user.get(f"/api/sessions/{session_id}").json()["messages"]
        assert [message["content"] for message in history][::2] == [QUESTION, follow_up["question"]]
        # The chat limit counts across both replicas through Redis: two made, eight more allowed.
        statuses = [
            user.post("/api/chat", json={"agent_id": "support-agent", "question": QUESTION}).status_code
            for _ in range(CHAT_LIMIT + 2)
        ]
    assert statuses.count(200) == CHAT_LIMIT - 2
    assert statuses.count(429) == 4
    # Both replicas served: each logged requests of this test.
    for container in stack.apis:
        logs = stack.podman.run("logs", container).stdout
        assert '"path":"/api/chat"' in logs, container


def big_document(sections: int) -> bytes:
    """Markdown of `sections` sections of distinct sentences: many chunks, each a few hundred tokens."""
    vocabulary = (
        "ingest chunk vector replica proxy worker session citation embedder index queue heartbeat "
        "restore backup schema archive latency budget timeout probe rollout cluster secret"
    )
    words = random.Random(15).choices(vocabulary.split(), k=sections * 180)
    parts = ["# Operations handbook\n"]
    for n in range(sections):
        body = " ".join(words[n * 180 : (n + 1) * 180])
        parts.append(f"\n## Procedure {n}\n\nStep {n}: {body}.\n")
    return "".join(parts).encode()


def chunk_rows(database_url: str, document_id: str) -> list[tuple[int, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT chunk_index, text FROM chunks WHERE document_id = %s ORDER BY chunk_index, id",
            (document_id,),
        ).fetchall()
    return [(int(index), str(text)) for index, text in rows]


def test_a_worker_killed_mid_ingestion_leaves_every_chunk_stored_once(stack: Stack) -> None:
    # About 50 chunks, embedded 16 at a time: a kill after the first batch is mid-ingestion.
    data = big_document(sections=50)
    with stack.client() as admin:
        for category in ("handbook", "reference"):
            assert admin.post("/api/knowledge/categories", json={"name": category}).status_code == 201
        queued = upload(admin, "handbook", "handbook.md", data).json()
        progress: dict[str, int] = {}
        # Killed once it has embedded part of the document.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            progress = admin.get(f"/api/jobs/{queued['job_id']}").json()["progress"] or {}
            if progress.get("chunks_embedded", 0) > 0:
                break
            time.sleep(0.1)
        [worker] = stack.workers
        stack.podman.kill(worker)
        embedded_when_killed = progress["chunks_embedded"]
        assert 0 < embedded_when_killed < progress["chunks_total"]
        # Half done, nothing is visible: chunks are swapped in only at the end.
        assert chunk_rows(stack.database_url, queued["document_id"]) == []

        # A new worker notices the dead one's job and runs it again, to the end.
        stack.workers.remove(worker)
        stack.start_worker()
        job = wait_for_job(admin, queued["job_id"])
        assert job["status"] == "succeeded", job
        assert job["attempts"] >= 2
        # The same bytes ingested by a worker nobody killed: the reference for every chunk.
        reference = upload(admin, "reference", "handbook.md", data).json()
        assert wait_for_job(admin, reference["job_id"])["status"] == "succeeded"
        document = admin.get(f"/api/knowledge/documents/{queued['document_id']}").json()

    rows = chunk_rows(stack.database_url, queued["document_id"])
    assert [index for index, _ in rows] == list(range(len(rows))), "no chunk lost, none twice"
    assert len(rows) == document["chunk_count"] == progress["chunks_total"]
    assert rows == chunk_rows(stack.database_url, reference["document_id"])


def load_while(stack: Stack, disrupt: Callable[[], None]) -> list[str]:
    """Four clients send chats, searches and agent lists through the proxy; once both replicas have
    answered for a while `disrupt` runs, and the load goes on until as much again was answered. The
    failures the clients saw are returned."""
    # Enough keys that no one of them reaches the chat limit.
    keys = [stack.user_key() for _ in range(40)]
    failures: list[str] = []
    answered: list[int] = []
    stop = threading.Event()

    def load(thread: int) -> None:
        with httpx.Client(base_url=stack.proxy.base_url, timeout=30) as client:
            n = 0
            while not stop.is_set():
                headers = {"X-API-Key": keys[(thread * 97 + n) % len(keys)]}
                try:
                    if n % 3 == 0:
                        body = {"agent_id": "support-agent", "question": QUESTION}
                        response = client.post("/api/chat", json=body, headers=headers)
                    elif n % 3 == 1:
                        response = client.post(
                            "/api/knowledge/search", json={"query": "413"}, headers=headers
                        )
                    else:
                        response = client.get("/api/agents", headers=headers)
                    if response.status_code == 200:
                        answered.append(n)
                    else:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                n += 1

    threads = [threading.Thread(target=load, args=(n,)) for n in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(answered) >= 30)
        before = len(answered)
        disrupt()
        wait_until(lambda: len(answered) >= 2 * before)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return failures


def bring_back(stack: Stack, container: str) -> None:
    """The replica started again (same container, same port), as its orchestrator would, and back in
    the proxy's rotation: nginx tries a replica it saw fail again only after fail_timeout (10 s)."""
    stack.podman.run("start", container)
    wait_ready(stack.apis[container])
    marker = f"back-{uuid.uuid4().hex}"
    with stack.client() as client:

        def served_by_it() -> bool:
            client.get("/health", headers={"X-Request-ID": marker})
            return marker in stack.podman.run("logs", "--since", "60s", container).stdout

        wait_until(served_by_it, timeout=30)


def test_an_api_replica_stopped_under_load_fails_no_request(stack: Stack) -> None:
    # What an orchestrator does on a rolling update, a scale-down or a node drain: SIGTERM, then a
    # grace period. The replica stops taking connections, finishes what it began and exits; nginx sends
    # every request it could not connect for, or whose idle connection closed under it, to the other.
    replica = list(stack.apis)[1]
    retried_before = stack.proxy.retried()
    failures = load_while(stack, lambda: stack.podman.stop(replica, grace_seconds=30))
    try:
        assert failures == []
        assert stack.proxy.retried() > retried_before, "requests were passed on to the other replica"
    finally:
        bring_back(stack, replica)


def test_an_api_replica_killed_under_load_fails_no_request(stack: Stack) -> None:
    # A crash (SIGKILL: out of memory, a node lost): nothing is finished. Every request the dead replica
    # had not begun to answer is retried on the other. A response whose headers it had already sent
    # cannot be: its client has begun to read it, and no proxy can replace a response half given. The
    # window is the microseconds between a response's two writes, so at most one per client thread;
    # anything else (a 5xx, a refused connection, a request never answered) is a failure of the service.
    replica = next(iter(stack.apis))
    retried_before = stack.proxy.retried()
    failures = load_while(stack, lambda: stack.podman.kill(replica))
    try:
        begun = [failure for failure in failures if "without sending complete message body" in failure]
        assert [failure for failure in failures if failure not in begun] == []
        assert len(begun) <= CLIENT_THREADS
        assert stack.proxy.retried() > retried_before, "the killed replica's requests were retried"
    finally:
        bring_back(stack, replica)
