"""Traces, log formats and quiet workers as an operator sees them: `purpose-agent` processes run with
TRACING_ENABLED against a local OTLP receiver, the fake OpenAI server answering their model calls.

One deployment for the module (MCP's: its own embedded PostgreSQL, the kettle persona, a small manual
ingested by `purpose-agent ingest`, here traced), then one `purpose-agent serve` shipping its logs over
OTLP too. Every process is stopped by its own id.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.llm.fake_upstream import FakeUpstream
from tests.mcp.test_processes import COMMAND, Deployment
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

EMAIL = "jane.doe@example.com"
INGESTION_STAGES = ["ingest.parse", "ingest.chunk", "ingest.embed", "ingest.store"]
QUESTION = {"agent_id": "kettle-helper", "question": "How long is the heating element covered?"}


class TracedDeployment(Deployment):
    """MCP's test deployment (the kettle persona and manual), its commands traced to `receiver` and its
    model calls answered by the fake OpenAI server."""

    def __init__(self, workdir: Path, redis_url: str, receiver: OtlpReceiver, openai: FakeUpstream) -> None:
        super().__init__(workdir, redis_url)
        self.env = {key: value for key, value in self.env.items() if not key.startswith(("OTEL_", "LOG_"))}
        self.env |= {
            "APP_ENV": "development",
            "LLM_CHAIN": "openai",
            "OPENAI_API_KEY": "sk-test-0001",
            "OPENAI_BASE_URL": f"{openai.base_url}/v1",
            "OPENAI_MODEL": "gpt-4o",
            "OPENAI_MAX_RETRIES": "0",
            "LOG_FORMAT": "json",
            "LOG_SINKS": "otlp",
            "TRACING_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "purpose-agent-test",
            "OTEL_TRACES_SAMPLER": "always_on",
            # Spans leave every 100 ms instead of every 5 s, so the test waits less.
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }

    def output(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text()

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """A long-running command, its output in NAME.log; stopped with the deployment."""
        with (self.workdir / f"{name}.log").open("wb") as sink:
            process = subprocess.Popen(
                [COMMAND, *args], cwd=self.workdir, env={**self.env, **env}, stdout=sink, stderr=sink
            )
        self.processes.append(process)
        return process


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    receiver: OtlpReceiver,
    openai_fake: FakeUpstream,
) -> Iterator[TracedDeployment]:
    deployment = TracedDeployment(tmp_path_factory.mktemp("telemetry"), redis_url, receiver, openai_fake)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(deployment.stop)  # also when preparing it fails half-way
        deployment.prepare()
        yield deployment


@pytest.fixture(scope="module")
def api(deployment: TracedDeployment) -> str:
    return f"http://127.0.0.1:{deployment.serve()}"


@pytest.fixture(scope="module")
def user_key(deployment: TracedDeployment) -> str:
    return deployment.key()


def trace_of(receiver: OtlpReceiver, root: ReceivedSpan) -> list[ReceivedSpan]:
    return [span for span in receiver.spans if span.trace_id == root.trace_id]


def one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    [found] = [span for span in spans if span.name == name]
    return found


def descends_from(span: ReceivedSpan, ancestor: ReceivedSpan, spans: list[ReceivedSpan]) -> bool:
    by_id = {candidate.span_id: candidate for candidate in spans}
    parent = by_id.get(span.parent_id)
    while parent is not None:
        if parent.span_id == ancestor.span_id:
            return True
        parent = by_id.get(parent.parent_id)
    return False


def is_sql(span: ReceivedSpan) -> bool:
    return "postgresql" in (span.attributes.get("db.system"), span.attributes.get("db.system.name"))


def test_a_chat_request_is_one_trace_from_its_server_span_to_retrieval_the_model_and_sql(
    api: str, user_key: str, deployment: TracedDeployment, receiver: OtlpReceiver, openai_fake: FakeUpstream
) -> None:
    openai_fake.reply.chunks = ["The heating element", " is covered for five years [1]."]
    response = httpx.post(
        f"{api}/api/chat?contact={EMAIL}", json=QUESTION, headers={"X-API-Key": user_key}, timeout=60
    )
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]

    def server_span() -> list[ReceivedSpan]:
        return [
            span
            for span in receiver.spans
            if span.name == "POST /api/chat" and span.kind == Span.SPAN_KIND_SERVER
        ]

    [server] = receiver.wait_for(server_span)
    assert server.service == "purpose-agent-test"
    spans = trace_of(receiver, server)
    retrieval = one(spans, "retrieval")
    search = one(spans, "knowledge.search")
    attempt = one(spans, "llm.attempt")
    assert retrieval.parent_id == server.span_id
    assert search.parent_id == retrieval.span_id
    assert search.attributes["search.mode"] == "hybrid"
    assert attempt.parent_id == server.span_id
    assert attempt.attributes["llm.provider"] == "openai"
    assert attempt.attributes["llm.model"] == "gpt-4o"
    assert attempt.attributes["llm.outcome"] == "success"
    assert attempt.attributes["gen_ai.usage.output_tokens"] > 0

    sql = [span for span in spans if is_sql(span)]
    assert sql, "SQLAlchemy's statements are traced"
    assert all(descends_from(span, server, spans) for span in sql)
    assert any(span.parent_id == search.span_id for span in sql), "the search's statement is in its span"
    assert any(span.parent_id == server.span_id for span in sql), "the session's write is the request's"

    # Spans bypass the log redactor: the query string and the client's address are kept out of them.
    assert not [span for span in spans if any(EMAIL in str(value) for value in span.attributes.values())]
    assert server.attributes["net.peer.ip"] == "[IP]"

    # The access line of that request carries its trace; so does the same line sent over OTLP.
    serve_log = next(deployment.workdir.glob("serve-*.log")).read_text()
    [access] = [
        line
        for line in map(json.loads, filter(None, serve_log.splitlines()))
        if line.get("event") == "request" and line.get("request_id") == request_id
    ]
    assert (access["trace_id"], access["span_id"]) == (server.trace_id, server.span_id)
    [shipped] = receiver.wait_for(
        lambda: [log for log in receiver.logs if log.body == "request" and log.trace_id == server.trace_id]
    )
    assert shipped.attributes["request_id"] == request_id
    assert shipped.span_id == server.span_id


def test_ingestion_is_traced_by_stage(deployment: TracedDeployment, receiver: OtlpReceiver) -> None:
    document = receiver.wait_for(lambda: [s for s in receiver.spans if s.name == "ingest.document"])[0]
    spans = trace_of(receiver, document)
    stages = [
        span for span in spans if span.parent_id == document.span_id and span.name.startswith("ingest.")
    ]
    assert [span.name for span in stages] == INGESTION_STAGES
    store = stages[-1]
    assert any(is_sql(span) and span.parent_id == store.span_id for span in spans)


def tty_output(deployment: TracedDeployment, *args: str, **env: str) -> str:
    """What a command prints on a terminal (a pseudo-terminal here)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [COMMAND, *args],
        cwd=deployment.workdir,
        env={**deployment.env, **env},
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(controller)
    return output.decode(errors="replace")


def migration_line(output: str) -> str:
    """The line Alembic logs on every `migrate`."""
    [line] = [line for line in output.splitlines() if "Context impl PostgresqlImpl" in line]
    return line


def test_on_a_terminal_in_development_logs_are_readable_lines(deployment: TracedDeployment) -> None:
    line = migration_line(tty_output(deployment, "migrate", LOG_FORMAT="auto", TRACING_ENABLED="false"))
    assert not line.lstrip().startswith("{")
    assert "info" in line
    assert "\x1b[" in line, "in colour"

    production = tty_output(
        deployment,
        "migrate",
        LOG_FORMAT="auto",
        TRACING_ENABLED="false",
        APP_ENV="production",
        JWT_SECRET="a-production-secret-of-more-than-32-bytes",
    )
    assert json.loads(migration_line(production))["event"] == "Context impl PostgresqlImpl."

    piped = deployment.run("migrate", LOG_FORMAT="auto", TRACING_ENABLED="false")
    assert json.loads(migration_line(piped))["level"] == "info", "JSON when piped"
    forced = migration_line(deployment.run("migrate", LOG_FORMAT="console", TRACING_ENABLED="false"))
    assert not forced.startswith("{")
    assert "\x1b[" not in forced, "no colour codes into a pipe"


def test_an_idle_worker_keeps_its_routine_jobs_quiet(deployment: TracedDeployment) -> None:
    worker = deployment.start("worker", "worker", TRACING_ENABLED="false")

    def stalled_check_ran() -> bool:
        with psycopg.connect(deployment.database_url) as connection:
            row = connection.execute(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE task_name = 'jobs.requeue_stalled' AND status = 'succeeded'"
            ).fetchone()
        return bool(row and row[0])

    deadline = time.monotonic() + 60
    while not stalled_check_ran():
        assert worker.poll() is None, deployment.output("worker")
        assert time.monotonic() < deadline, "the stalled-job check never ran"
        time.sleep(0.2)
    time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)

    lines: list[dict[str, Any]] = [
        json.loads(line) for line in deployment.output("worker").splitlines() if line.startswith("{")
    ]
    events = [str(line["event"]) for line in lines]
    assert any(event.startswith("Starting worker") for event in events), "the worker still says it runs"
    routine = [event for event in events if "requeue_stalled" in event or "Registering task" in event]
    assert routine == [], "the periodic checks run without a word at INFO"


@pytest.mark.parametrize(
    ("command", "variables", "named"),
    [
        ("serve", {"LOG_SINKS": "seq,kafka"}, "LOG_SINKS"),
        ("serve", {"LOG_SINKS": "seq", "SEQ_URL": "seq.internal:5341"}, "SEQ_URL"),
        ("worker", {"LOG_SINKS": "seq"}, "SEQ_URL"),
        ("serve", {"TRACING_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"}, None),
        ("worker", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:port/v1/traces"}, None),
        ("serve", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, None),
        ("serve", {"OTEL_TRACES_SAMPLER": "jaeger_remote"}, None),
    ],
)
def test_a_bad_telemetry_setting_stops_the_start_with_one_line_naming_it(
    tmp_path: Path, command: str, variables: dict[str, str], named: str | None
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "LOG_", "SEQ_"))}
    result = subprocess.run(
        [COMMAND, command],
        cwd=tmp_path,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    setting = named or next(iter(variables.keys() - {"TRACING_ENABLED"}))
    assert result.stderr.startswith(f"error: invalid setting {setting}:")
