"""`purpose-agent eval` on the shipped set, against `purpose-agent up` serving the sample agents.

The service is the real one, as `make run` starts it: its own embedded PostgreSQL, the shipped
personas and sample knowledge ingested by its worker, no provider key. Only the model is replaced,
by the fake OpenAI server, for two reasons:

- what is judged is retrieval and abstention. The fake's reply marks no passage, so the answer's
  citations are every passage retrieval gave, in its order: hit@k measures the search. A real model
  chooses which passages to cite, so hit@k would measure the model too (and the tiny built-in one is
  no judge of that);
- time: the built-in model writes an answer in tens of seconds on a shared CI core (past
  LLM_DEADLINE_SECONDS here, so the extractive fallback answered), 40 times; the fake, in milliseconds.

Groundedness is not asserted there: it judges the answer's text, which there is the fake's. It is
asserted on the offline default, the service exactly as a new user's `make run` starts it, with no
provider key: the passages are quoted, and the set must meet every threshold of the issue — hit@5,
abstentions and groundedness — on what a user would see.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.llm.fake_upstream import FakeUpstream, Reply
from tests.test_cli import COMMAND, SAMPLE_KNOWLEDGE, Service, printed_admin_key, wait_for_sample_knowledge

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SET = PROJECT_ROOT / "eval" / "sample-agents.yaml"
SHIPPED_PERSONAS = PROJECT_ROOT / "config" / "personas.json"
FAKE_ANSWER = "The passages above answer this."


def sample_agents(workdir: Path, redis_url: str, **env: str) -> Iterator[tuple[Service, str]]:
    """`purpose-agent up` with the shipped personas and knowledge, every one ready; it and its key."""
    service = Service(workdir, redis_url)
    # No provider key or model setting of the caller's own: the service as a new user starts it.
    for name in [name for name in service.env if name.endswith("_API_KEY") or name.startswith("LLM_")]:
        del service.env[name]
    service.env.update(
        KNOWLEDGE_SEED_DIR=str(SAMPLE_KNOWLEDGE),
        PERSONAS_FILE=str(SHIPPED_PERSONAS),
        # 50 questions in a few seconds: past the default 20/minute, the client would wait minutes.
        RATE_LIMIT_CHAT="1000/minute",
        **env,
    )
    try:
        service.start()
        key = printed_admin_key(service.output.read_text())
        wait_for_sample_knowledge(service, key)
        yield service, key
    finally:
        service.kill()


@pytest.fixture(scope="module")
def sample_service(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, openai_fake: FakeUpstream
) -> Iterator[tuple[Service, str]]:
    """The sample agents answering through the fake; and the key."""
    openai_fake.reply = Reply(chunks=[FAKE_ANSWER])
    yield from sample_agents(
        tmp_path_factory.mktemp("sample-service"),
        redis_url,
        LLM_CHAIN="openai",
        OPENAI_API_KEY="sk-fake",
        OPENAI_BASE_URL=f"{openai_fake.base_url}/v1",
    )


@pytest.fixture(scope="module")
def offline_service(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[Service, str]]:
    """The sample agents with no provider key (the offline default: quoted passages); and the key."""
    yield from sample_agents(tmp_path_factory.mktemp("offline-service"), redis_url)


def run_eval(service: Service, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = service.env | {"PURPOSE_AGENT_API_KEY": key}
    return subprocess.run(
        [COMMAND, "eval", "--url", service.base_url, *args],
        cwd=service.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_shipped_set_meets_the_issue_s_thresholds_on_the_sample_agents(
    sample_service: tuple[Service, str], openai_fake: FakeUpstream, tmp_path: Path
) -> None:
    service, key = sample_service
    openai_fake.requests.clear()
    report = tmp_path / "results.json"
    started = time.monotonic()
    result = run_eval(
        service,
        key,
        str(SHIPPED_SET),
        "--min-hit-at-5",
        "0.95",
        "--min-abstention",
        "1.0",
        "--json",
        str(report),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 120, "50 questions answered by a fake take seconds"

    results: dict[str, Any] = json.loads(report.read_text())
    summary = results["summary"]
    assert (summary["questions"], summary["answerable"], summary["off_topic"], summary["failed"]) == (
        50,
        40,
        10,
        0,
    )
    assert summary["hit_at_5"]["value"] >= 0.95
    assert summary["abstention"] == {"value": 1.0, "hits": 10, "total": 10}
    assert results["passed"] is True
    assert results["unmet"] == []

    questions = results["questions"]
    off_topic = [question for question in questions if question["expected"]["abstain"]]
    assert {question["model_used"] for question in off_topic} == {"none"}, "abstentions ask no model"
    answered = [question for question in questions if not question["abstained"]]
    assert {question["model_used"] for question in answered} == {"openai/gpt-4o"}
    assert len(openai_fake.requests) == len(answered)
    assert all(question["latency_ms"] > 0 for question in questions)

    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["entry", "agent", "hit@1"]
    assert [line.split()[0] for line in lines[1:51]] == [question["id"] for question in questions]
    assert f"50 questions against {service.base_url}: 40 answerable, 10 off-topic, 0 failed" in lines
    assert "  correct abstentions       1.000  (10/10)" in lines
    assert lines[-1] == "passed"


def test_with_no_provider_key_the_quoted_answers_meet_every_threshold(
    offline_service: tuple[Service, str], tmp_path: Path
) -> None:
    service, key = offline_service
    report = tmp_path / "results.json"
    thresholds = ["--min-hit-at-5", "0.95", "--min-abstention", "1.0", "--min-grounded", "1.0"]
    result = run_eval(service, key, str(SHIPPED_SET), *thresholds, "--json", str(report))
    assert result.returncode == 0, result.stdout + result.stderr

    results: dict[str, Any] = json.loads(report.read_text())
    summary = results["summary"]
    assert summary["hit_at_5"]["value"] >= 0.95
    assert summary["abstention"] == {"value": 1.0, "hits": 10, "total": 10}
    assert summary["grounded"] == {"value": 1.0, "hits": 40, "total": 40}
    answered = [question for question in results["questions"] if not question["abstained"]]
    assert {question["model_used"] for question in answered} == {"extractive"}
    assert all(question["grounded"] is True for question in answered)


def test_a_missed_threshold_exits_1_after_the_whole_report(
    sample_service: tuple[Service, str], tmp_path: Path
) -> None:
    service, key = sample_service
    path = tmp_path / "set.yaml"
    path.write_text(
        "questions:\n"
        "  - id: nowhere\n    agent_id: support-agent\n    question: What does a 413 error mean?\n"
        "    sources: [a-document-nobody-uploaded.md]\n"
    )
    result = run_eval(service, key, str(path), "--min-hit-at-5", "0.5")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[-1] == "FAILED: citation hit@5 0.000 (0/1) is below the required 0.5"


def test_an_unknown_agent_is_one_line_and_exit_2_before_any_question_is_asked(
    sample_service: tuple[Service, str], openai_fake: FakeUpstream, tmp_path: Path
) -> None:
    service, key = sample_service
    path = tmp_path / "set.yaml"
    path.write_text(
        "questions:\n"
        "  - agent_id: support-agent\n    question: What does a 413 error mean?\n    sources: [faq.md]\n"
        "  - id: chef\n    agent_id: pastry-chef\n    question: How long do I bake it?\n    abstain: true\n"
    )
    openai_fake.requests.clear()
    result = run_eval(service, key, str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {path}: entry 'chef': agent_id: no agent 'pastry-chef' at {service.base_url} "
        "(it has: creative-writer, general-assistant, support-agent, technical-expert)"
    ]
    assert result.stdout == ""
    assert openai_fake.requests == [], "the valid first question was not asked"


def test_a_refused_key_is_one_line_and_exit_4(sample_service: tuple[Service, str]) -> None:
    service, key = sample_service
    revoked = httpx.post(
        f"{service.base_url}/api/keys", json={"name": "eval", "role": "user"}, headers={"X-API-Key": key}
    ).json()
    httpx.delete(f"{service.base_url}/api/keys/{revoked['id']}", headers={"X-API-Key": key})

    result = run_eval(service, revoked["key"], str(SHIPPED_SET))
    assert result.returncode == 4
    assert result.stderr == (
        f"error: {service.base_url} refused the API key (401: The credentials are invalid.): "
        "check --api-key or PURPOSE_AGENT_API_KEY\n"
    )
