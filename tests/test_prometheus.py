"""A real Prometheus scrapes a real `purpose-agent up` (the API and its worker) and answers queries.

Debian's `prometheus` (installed by `scripts/install-test-tools.sh`, which `make test` runs) listens
on 127.0.0.1 on a free port with a configuration of the test's own, scrapes both every second, and
is stopped by its process id. The chat goes to the OpenAI fake, so the LLM series exist too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from purpose_agent import __version__
from purpose_agent.cli.common import stop_child
from tests import test_cli
from tests.llm.fake_upstream import FakeUpstream
from tests.observability.test_deploy_files import PROMETHEUS as RULES
from tests.observability.test_deploy_files import as_promql, dashboard_panels
from tests.ports import free_port
from tests.processes import wait_until_answers
from tests.test_cli import Service, printed_admin_key

# The fixture of tests/test_cli.py: a `purpose-agent` in its own folder, with its own embedded database.
service = test_cli.service

PROMETHEUS = shutil.which("prometheus")

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus is not installed (scripts/install-test-tools.sh installs it)"
)


class Prometheus:
    """`prometheus` scraping `targets` (job name: host:port) every second, until `stop()`."""

    def __init__(self, workdir: Path, targets: dict[str, str], rule_files: tuple[Path, ...] = ()) -> None:
        assert PROMETHEUS is not None
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        # JSON is YAML: no writer needed.
        (workdir / "prometheus.yml").write_text(json.dumps(config))
        self.log = workdir / "prometheus.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=sink,
                stderr=sink,
            )
        wait_until_answers(self.process, f"http://127.0.0.1:{self.port}/-/ready", self.log, timeout=30)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of `promql` now."""
        response = httpx.get(
            f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": promql}, timeout=5
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def eventually(self, promql: str, timeout: float = 60) -> list[dict[str, Any]]:
        """The result of `promql` once it is not empty."""
        deadline = time.monotonic() + timeout
        while not (result := self.query(promql)):
            assert time.monotonic() < deadline, f"no series for {promql}:\n{self.log.read_text()}"
            time.sleep(0.5)
        return result

    def stop(self) -> None:
        stop_child(self.process)


def test_prometheus_scrapes_the_api_and_the_worker(
    service: Service, openai_fake: FakeUpstream, tmp_path: Path
) -> None:
    service.env |= {
        "LLM_CHAIN": "openai",
        "OPENAI_API_KEY": "sk-test-0001",
        "OPENAI_BASE_URL": f"{openai_fake.base_url}/v1",
        "OPENAI_MODEL": "gpt-4o",
    }
    service.start()
    worker_url = f"http://127.0.0.1:{service.worker_metrics_port}/metrics"
    assert f"  metrics:   {service.base_url}/metrics (worker: {worker_url})" in service.output.read_text()
    key = {"X-API-Key": printed_admin_key(service.output.read_text())}
    gateway = {"id": "gateway", "name": "Gateway", "retrieval": False, "instructions": "Be terse."}
    created = httpx.post(f"{service.base_url}/api/personas", json=gateway, headers=key, timeout=10)
    assert created.status_code == 201, created.text
    question = {"model": "gateway", "messages": [{"role": "user", "content": "Hello?"}]}
    answered = httpx.post(f"{service.base_url}/v1/chat/completions", json=question, headers=key, timeout=30)
    assert answered.status_code == 200, answered.text

    (tmp_path / "prometheus").mkdir()
    prometheus = Prometheus(
        tmp_path / "prometheus",
        {
            "purpose-agent-api": f"127.0.0.1:{service.port}",
            "purpose-agent-worker": f"127.0.0.1:{service.worker_metrics_port}",
        },
    )
    try:
        assert prometheus.eventually('up{job="purpose-agent-api"} == 1')
        assert prometheus.eventually('up{job="purpose-agent-worker"} == 1')
        [chat] = prometheus.eventually(
            'purpose_agent_http_requests_total{route="/v1/chat/completions",method="POST",status="200"}'
        )
        assert float(chat["value"][1]) == 1
        assert prometheus.eventually('purpose_agent_http_requests_total{route="/health"}')
        [attempts] = prometheus.eventually(
            'purpose_agent_llm_requests_total{provider="openai",model="openai/gpt-4o",outcome="success"}'
        )
        assert float(attempts["value"][1]) == 1
        todo = prometheus.eventually('purpose_agent_jobs{job="purpose-agent-worker",state="todo"}')
        assert [float(series["value"][1]) for series in todo] == [0]
        builds = prometheus.eventually(f'purpose_agent_build_info{{version="{__version__}"}}')
        assert {series["metric"]["job"] for series in builds} == {"purpose-agent-api", "purpose-agent-worker"}
    finally:
        prometheus.stop()


# Panels whose series appear only with their event, which this test does not cause: a rate-limit
# refusal, a failed job, a log sink dropping lines. (Failovers, requeues and expired sessions show 0.)
EVENTLESS_PANELS = {"Rate-limit refusals by class", "Job failures by task", "Log lines dropped"}


def test_the_dashboard_s_queries_return_data_from_a_running_service(
    service: Service, openai_fake: FakeUpstream, tmp_path: Path
) -> None:
    service.env |= {
        "KNOWLEDGE_SEED_DIR": str(test_cli.SAMPLE_KNOWLEDGE),
        "PERSONAS_FILE": str(Path(__file__).resolve().parents[1] / "config" / "personas.json"),
        "LLM_CHAIN": "openai",
        "OPENAI_API_KEY": "sk-test-0001",
        "OPENAI_BASE_URL": f"{openai_fake.base_url}/v1",
        "OPENAI_MODEL": "gpt-4o",
    }
    service.start()
    admin = printed_admin_key(service.output.read_text())
    (tmp_path / "prometheus").mkdir()
    prometheus = Prometheus(
        tmp_path / "prometheus",
        {
            "purpose-agent-api": f"127.0.0.1:{service.port}",
            "purpose-agent-worker": f"127.0.0.1:{service.worker_metrics_port}",
        },
        rule_files=(RULES / "recording.yml",),
    )
    try:
        test_cli.wait_for_sample_knowledge(service, admin)
        key = {"X-API-Key": admin}
        for question in ("What does a 413 error mean?", "Who won the 1998 football world cup?"):
            asked = {"agent_id": "support-agent", "question": question}
            answered = httpx.post(f"{service.base_url}/api/chat", json=asked, headers=key, timeout=60)
            assert answered.status_code == 200, answered.text
        streamed = {"agent_id": "support-agent", "question": "How do I reset a conversation?"}
        with httpx.stream(
            "POST", f"{service.base_url}/api/chat/stream", json=streamed, headers=key, timeout=60
        ) as stream:
            assert stream.status_code == 200
            assert "event: done" in stream.read().decode()
        refused = httpx.get(f"{service.base_url}/api/agents", headers={"X-API-Key": "pa_not-a-key"})
        assert refused.status_code == 401
        # A rate needs two samples of a series after the traffic.
        chats = 'count_over_time(purpose_agent_http_requests_total{route="/api/chat"}[1m]) >= 3'
        prometheus.eventually(chats, timeout=30)
        empty = [
            panel["title"]
            for panel in dashboard_panels()
            if not any(prometheus.query(as_promql(target["expr"])) for target in panel["targets"])
        ]
    finally:
        prometheus.stop()
    assert sorted(empty) == sorted(EVENTLESS_PANELS)
