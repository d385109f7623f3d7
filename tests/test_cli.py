"""The `purpose-agent` command as a new user runs it: `up` on a fresh data folder, then Ctrl-C.

Each service here is a real process: its own embedded PostgreSQL in a temporary folder on a free
port, the API on another free port, stopped by process id at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from purpose_agent import __version__
from purpose_agent.jobs.queue import libpq_url
from purpose_agent.kit.metrics_exposition import recorded_pids
from tests.chromium import CHROMIUM, HEADLESS_ARGS
from tests.metrics import Scrape, moved, scraped
from tests.ports import free_port
from tests.processes import wait_until_answers

COMMAND = str(Path(sys.executable).with_name("purpose-agent"))


class Service:
    """One `purpose-agent up` in its own folder, with its output kept in a file."""

    def __init__(self, workdir: Path, redis_url: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.db_port = free_port()
        self.worker_metrics_port = free_port()
        self.output = workdir / "output.log"
        self.env = {
            **{key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "PORT"}},
            "PORT": str(self.port),
            "EMBEDDED_DB_PORT": str(self.db_port),
            "DATA_DIR": str(workdir / ".data"),
            "REDIS_URL": redis_url,
            # Rate limits and failed sign-ins counted apart from every other test.
            "RATE_LIMIT_KEY_PREFIX": f"test:{uuid.uuid4().hex}:rate-limit",
            # The worker `up` starts serves its metrics on a port no other test holds.
            "WORKER_METRICS_PORT": str(self.worker_metrics_port),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [COMMAND, *args], cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=120
        )

    def start(self, command: str = "up") -> None:
        with self.output.open("ab") as sink:
            # A session of its own: a test that fails is cleaned up with every process `up` started.
            self.process = subprocess.Popen(
                [COMMAND, command],
                cwd=self.workdir,
                env=self.env,
                stdout=sink,
                stderr=sink,
                start_new_session=True,
            )
        wait_until_answers(self.process, f"{self.base_url}/health", self.output)

    def interrupt(self) -> int:
        """Ctrl-C, as a user would press it; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.run("db", "stop")

    def log_records(self) -> list[dict[str, Any]]:
        lines = self.output.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture
def service(tmp_path: Path, redis_url: str) -> Iterator[Service]:
    service = Service(tmp_path, redis_url)
    yield service
    service.kill()


def test_version_prints_the_package_version(service: Service) -> None:
    result = service.run("version")
    assert result.returncode == 0
    assert result.stdout.strip() == __version__


@pytest.mark.parametrize(
    ("command", "name", "value"),
    [
        ("serve", "PORT", "eighty"),
        ("serve", "METRICS_TOKEN", "short"),
        ("worker", "WORKER_METRICS_PORT", "eighty"),
    ],
)
def test_a_bad_setting_stops_the_start_with_one_line(
    service: Service, command: str, name: str, value: str
) -> None:
    service.env[name] = value
    result = service.run(command)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"error: invalid setting {name}:")


SAMPLE_KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"


def printed_admin_key(output: str) -> str:
    [line] = [line for line in output.splitlines() if "`purpose-agent keys create --role admin`):" in line]
    return line.rsplit(" ", 1)[-1]


def documents_by_status(service: Service, key: str) -> dict[str, int]:
    listed = httpx.get(
        f"{service.base_url}/api/knowledge/documents", params={"limit": 100}, headers={"X-API-Key": key}
    ).json()
    counts: dict[str, int] = {}
    for item in listed["items"]:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return counts


def wait_for_sample_knowledge(service: Service, key: str) -> None:
    """Until the worker `up` started has made every sample document ready (3 minutes at most)."""
    samples = len([path for path in SAMPLE_KNOWLEDGE.rglob("*") if path.is_file()])
    deadline = time.monotonic() + 180
    while documents_by_status(service, key) != {"ready": samples}:
        assert time.monotonic() < deadline, documents_by_status(service, key)
        time.sleep(0.5)


def test_up_serves_ingests_the_sample_knowledge_stops_cleanly_and_reuses_data(service: Service) -> None:
    service.env["KNOWLEDGE_SEED_DIR"] = str(SAMPLE_KNOWLEDGE)
    samples = [path for path in SAMPLE_KNOWLEDGE.rglob("*") if path.is_file()]
    service.start()
    output = service.output.read_text()
    assert f"http://127.0.0.1:{service.port}/api/docs" in output
    assert f"knowledge: {len(samples)} document(s) from {SAMPLE_KNOWLEDGE}/ queued for ingestion" in output

    key = printed_admin_key(output)

    # The worker that `up` started ingests them all.
    wait_for_sample_knowledge(service, key)
    categories = {
        row["name"]
        for row in httpx.get(
            f"{service.base_url}/api/knowledge/categories", headers={"X-API-Key": key}
        ).json()
    }
    assert categories == {path.name for path in SAMPLE_KNOWLEDGE.iterdir() if path.is_dir()}

    ready = httpx.get(f"{service.base_url}/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["status"] == "ok"

    missing = httpx.get(f"{service.base_url}/no/such/route", headers={"X-Request-ID": "abc-123"})
    assert missing.status_code == 404
    assert missing.json()["request_id"] == "abc-123"

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{service.db_port}/purpose_agent") as conn:
        conn.execute("CREATE TABLE kept_between_runs (id int)")

    assert service.interrupt() == 0
    assert "worker stopped" in service.output.read_text()
    assert service.run("db", "status").returncode == 1, "Ctrl-C stops the database that `up` started"

    lines = [record for record in service.log_records() if record.get("request_id") == "abc-123"]
    assert [line["event"] for line in lines] == ["request"]
    assert lines[0]["status"] == 404
    assert lines[0]["path"] == "/no/such/route"

    # A second run reuses the data folder, finds the knowledge unchanged and makes no second key.
    service.output.write_text("")
    service.start()
    assert "development admin key" not in service.output.read_text()
    assert f"0 document(s) from {SAMPLE_KNOWLEDGE}/ queued for ingestion, {len(samples)} unchanged" in (
        service.output.read_text()
    )
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{service.db_port}/purpose_agent") as conn:
        assert conn.execute("SELECT to_regclass('kept_between_runs')").fetchone() == ("kept_between_runs",)
    assert service.interrupt() == 0


def test_readiness_names_the_database_when_it_is_stopped(service: Service) -> None:
    service.start()
    assert httpx.get(f"{service.base_url}/health/ready").status_code == 200

    assert service.run("db", "stop").returncode == 0
    response = httpx.get(f"{service.base_url}/health/ready", timeout=10)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["failed"] == ["database"]
    assert httpx.get(f"{service.base_url}/health").status_code == 200


CANARIES = {
    "email": "canary.person@example.com",
    "card": "4111 1111 1111 1111",
    "card_compact": "4111111111111111",
    "token": "canaryBearerToken0123456789abcdef",
    "phone": "+1 415 555 0199",
}


def test_personal_data_in_requests_never_reaches_the_logs(service: Service) -> None:
    service.start()
    body = {"contact": CANARIES["email"], "card": CANARIES["card"], "phone": CANARIES["phone"]}
    headers = {"Authorization": f"Bearer {CANARIES['token']}", "X-Request-ID": "canary-1"}
    # In the body, the headers and the (logged) path; the routes do not exist, so they fail too.
    httpx.post(f"{service.base_url}/api/chat", json=body, headers=headers)
    httpx.get(
        f"{service.base_url}/users/{CANARIES['email']}/cards/{CANARIES['card_compact']}", headers=headers
    )
    service.interrupt()

    output = service.output.read_text()
    records = service.log_records()
    paths = [record["path"] for record in records if record.get("request_id") == "canary-1"]
    assert paths == ["/api/chat", "/users/[EMAIL]/cards/[CARD]"]
    for canary in CANARIES.values():
        assert canary not in output


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_api_docs_render_in_headless_chromium_without_network(service: Service, tmp_path: Path) -> None:
    service.start()
    result = subprocess.run(
        [
            "chromium",
            *HEADLESS_ARGS,
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{service.base_url}/api/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = result.stdout
    assert 'class="swagger-ui"' in dom
    assert "Purpose-Agent" in dom
    assert "/health/ready" in dom, "the operations of the OpenAPI document are rendered"


def test_serving_with_another_embedder_than_the_index_holds_stops_with_a_pointer_to_reindex(
    service: Service,
) -> None:
    assert service.run("db", "start").returncode == 0
    assert service.run("migrate").returncode == 0
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{service.db_port}/purpose_agent") as conn:
        conn.execute(
            "INSERT INTO embedding_index (id, embedder, dimension) VALUES (1, %s, 1536)",
            ("openai/text-embedding-3-small",),
        )
    result = service.run("serve")
    assert result.returncode == 2
    assert "purpose-agent reindex" in result.stderr
    assert "openai/text-embedding-3-small" in result.stderr

    # Following the message: reindex moves the index to the configured (local) embedder.
    reindexed = service.run("reindex")
    assert reindexed.returncode == 0, reindexed.stderr
    assert "index rebuilt for local/" in reindexed.stdout
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{service.db_port}/purpose_agent") as conn:
        row = conn.execute("SELECT embedder, dimension FROM embedding_index").fetchone()
    assert row is not None
    assert row[0].startswith("local/")
    assert row[1] == 384


def test_ingest_runs_the_folder_s_jobs_reports_each_file_and_fails_on_a_bad_document(
    service: Service, tmp_path: Path
) -> None:
    assert service.run("db", "start").returncode == 0
    assert service.run("migrate").returncode == 0
    folder = tmp_path / "docs"
    (folder / "manuals").mkdir(parents=True)
    (folder / "manuals" / "kettle.md").write_text("# Kettle\n\nDescale it monthly with vinegar.\n")
    (folder / "manuals" / "broken.pdf").write_bytes(b"%PDF-1.7\n%broken beyond repair")

    first = service.run("ingest", str(folder))
    assert first.returncode == 1, "a document that failed is an error for a script"
    lines = [line for line in first.stdout.splitlines() if not line.startswith("{")]
    assert "ready     manuals/kettle.md: 1 chunks" in lines
    assert any(line.startswith("failed    manuals/broken.pdf: ") for line in lines)
    assert lines[-1] == "2 created, 0 replaced, 0 unchanged, 0 skipped, 0 pruned"

    (folder / "manuals" / "broken.pdf").unlink()
    again = service.run("ingest", "--prune", str(folder))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-2:] == [
        "pruned    manuals/broken.pdf",
        "0 created, 0 replaced, 1 unchanged, 0 skipped, 1 pruned",
    ]
    assert service.run("ingest", str(tmp_path / "nowhere")).returncode == 2


def test_keys_are_created_for_a_role_shown_once_and_revoked(service: Service) -> None:
    assert service.run("db", "start").returncode == 0
    assert service.run("migrate").returncode == 0
    created = service.run("keys", "create", "--role", "user", "--name", "reporting")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("pa_")
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{service.db_port}/purpose_agent") as conn:
        row = conn.execute("SELECT name, role, prefix, digest FROM api_keys").fetchone()
    assert row is not None
    assert row[:2] == ("reporting", "user")
    assert secret.startswith(row[2])
    assert secret not in row[3], "only the digest is stored"

    assert service.run("keys", "revoke", row[2]).returncode == 0
    assert service.run("keys", "revoke", row[2]).returncode == 2, "an already revoked key is no live key"
    assert service.run("keys", "create", "--role", "root").returncode == 2

    limited = service.run(
        "keys", "create", "--name", "widget", "--operation", "search", "--operation", "chat",
        "--requests-per-day", "100", "--tokens-per-day", "5000", "--cost-per-month-usd", "2.5",
    )  # fmt: skip
    assert limited.returncode == 0, limited.stderr
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{service.db_port}/purpose_agent") as conn:
        limits = conn.execute(
            "SELECT agents, operations, requests_per_day, tokens_per_day, cost_per_month_usd"
            " FROM api_keys WHERE name = 'widget'"
        ).fetchone()
    assert limits == (None, ["chat", "search"], 100, 5000, 2.5)
    unknown = service.run("keys", "create", "--agent", "no-such-agent")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "error: There is no agent 'no-such-agent'; GET /api/agents lists them.",
    )
    negative = service.run("keys", "create", "--requests-per-day", "-1")
    assert negative.returncode == 2
    assert negative.stderr.startswith("error: requests_per_day: Input should be greater than or equal to 1")


def test_users_are_created_with_a_password_from_stdin_and_can_sign_in(service: Service) -> None:
    assert service.run("db", "start").returncode == 0
    assert service.run("migrate").returncode == 0
    command = [COMMAND, "users", "create", "Operator", "--admin", "--password-stdin"]
    created = subprocess.run(
        command,
        cwd=service.workdir,
        env=service.env,
        input="long enough pass phrase\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().splitlines()[-1] == "created admin operator"
    weak = subprocess.run(
        [COMMAND, "users", "create", "another", "--password-stdin"],
        cwd=service.workdir,
        env=service.env,
        input="short\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert weak.returncode == 2
    assert "at least 12 characters" in weak.stderr
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{service.db_port}/purpose_agent") as conn:
        row = conn.execute("SELECT username, role, password_hash FROM users").fetchone()
    assert row is not None
    assert row[:2] == ("operator", "admin")
    assert row[2].startswith("$argon2id$")


def _children(pid: int) -> list[tuple[int, str]]:
    """The child processes of `pid`, with their command lines."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            found.append((int(child), cmdline))
    return found


def test_api_workers_serve_the_port_from_that_many_processes_and_stop_with_ctrl_c(service: Service) -> None:
    service.env.update(API_WORKERS="2", KNOWLEDGE_SEED_DIR=str(service.workdir / "none"))
    service.start()
    assert service.process is not None
    up_pid = service.process.pid
    api_workers = [pid for pid, cmdline in _children(up_pid) if "spawn_main" in cmdline]
    assert len(api_workers) == 2, _children(up_pid)
    key = printed_admin_key(service.output.read_text())
    with httpx.Client(base_url=service.base_url, headers={"X-API-Key": key}) as client:
        assert all(client.get("/api/agents").status_code == 200 for _ in range(20))
    assert service.interrupt() == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in api_workers), "every API process stopped"


def test_serve_with_several_processes_reports_them_all_in_one_scrape(
    service: Service, database_url: str
) -> None:
    service.env |= {"API_WORKERS": "2", "DATABASE_URL": libpq_url(database_url)}
    shared = service.workdir / ".data" / "metrics"
    shared.mkdir(parents=True)
    (shared / "counter_999999.db").write_bytes(b"left by a previous run")
    service.start("serve")
    assert not (shared / "counter_999999.db").exists(), "emptied at the start"

    def scrape() -> Scrape:
        return scraped(httpx.get(f"{service.base_url}/metrics", timeout=5))

    health = {"route": "/health", "method": "GET", "status": "200"}
    before = scrape()
    for _ in range(30):  # a connection each: the kernel hands them to either process
        assert httpx.get(f"{service.base_url}/health", timeout=5).status_code == 200
    after = scrape()
    assert moved(before, after, "purpose_agent_http_requests_total", **health) == 30
    pids = {int(pid) for pid in after.label_values("process_start_time_seconds", "pid")}
    assert len(pids) == 2, "one series per API process"
    assert pids == recorded_pids(shared)

    # A process that dies is replaced; what it counted still counts, its in-flight gauge goes.
    dead = min(pids)
    os.kill(dead, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (replaced := scrape()).label_values("process_start_time_seconds", "pid") == {str(p) for p in pids}:
        assert time.monotonic() < deadline, "the dead process was neither replaced nor forgotten"
        time.sleep(0.5)
    assert str(dead) not in replaced.label_values("process_start_time_seconds", "pid")
    assert replaced.value("purpose_agent_http_requests_total", **health) >= after.value(
        "purpose_agent_http_requests_total", **health
    )
    assert not list(shared.glob(f"gauge_live*_{dead}.db"))
    assert service.interrupt() == 0
