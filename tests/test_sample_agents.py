"""The sample agents as a new user meets them: `up` with the shipped personas and knowledge, no keys.

With no provider key, the chain is the built-in local model alone, which does not answer questions
with passages unless LLM_LOCAL_ANSWERS=true: each agent answers by quoting the sentences of its
sample knowledge that answer the question (`model_used` "extractive"), over REST, streaming and the
official OpenAI client, and the 413 question gets the sentence that answers it.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai

from tests import test_cli
from tests.test_cli import SAMPLE_KNOWLEDGE, Service, documents_by_status, printed_admin_key

service = test_cli.service

ANSWER_413 = "A 413 means the body of your request was larger than the service accepts"
SHIPPED_PERSONAS = Path(__file__).resolve().parents[1] / "config" / "personas.json"
QUESTIONS = {
    "general-assistant": ("What is a persona?", "general"),
    "technical-expert": ("How does the circuit breaker decide to open?", "technical"),
    "creative-writer": ("How should I write dialogue?", "creative-writing"),
    "support-agent": ("What does a 413 error mean?", "support"),
}


def test_the_four_sample_agents_answer_from_their_knowledge_with_no_key(service: Service) -> None:
    service.env.update(
        KNOWLEDGE_SEED_DIR=str(SAMPLE_KNOWLEDGE),
        PERSONAS_FILE=str(SHIPPED_PERSONAS),
        LLM_CHAIN="gemini,openai,anthropic,ollama,local",
        **{f"{name}_API_KEY": "" for name in ("GEMINI", "OPENAI", "ANTHROPIC")},
        OLLAMA_BASE_URL="",
    )
    service.start()
    key = printed_admin_key(service.output.read_text())
    samples = len([path for path in SAMPLE_KNOWLEDGE.rglob("*") if path.is_file()])
    deadline = time.monotonic() + 180
    while documents_by_status(service, key) != {"ready": samples}:
        assert time.monotonic() < deadline, documents_by_status(service, key)
        time.sleep(0.5)
    headers = {"X-API-Key": key}

    agents = httpx.get(f"{service.base_url}/api/agents", headers=headers).json()
    assert {agent["id"]: agent["knowledge_category"] for agent in agents} == {
        agent: category for agent, (_, category) in QUESTIONS.items()
    }

    for agent, (question, category) in QUESTIONS.items():
        response = httpx.post(
            f"{service.base_url}/api/chat",
            json={"agent_id": agent, "question": question},
            headers=headers,
            timeout=120,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["model_used"], body["extractive_reason"], body["grounded"]) == (
            "extractive",
            "default",
            True,
        ), agent
        assert body["citations"], f"{agent} answers from its knowledge"
        if agent == "support-agent":
            assert ANSWER_413 in body["answer"], "the sentence that answers is quoted"
        sources = {
            path.relative_to(SAMPLE_KNOWLEDGE / category).as_posix()
            for path in (SAMPLE_KNOWLEDGE / category).rglob("*")
        }
        assert {citation["source"] for citation in body["citations"]} <= sources

    off_topic = httpx.post(
        f"{service.base_url}/api/chat",
        json={"agent_id": "support-agent", "question": "Who painted the ceiling of the Sistine Chapel?"},
        headers=headers,
        timeout=60,
    ).json()
    assert (off_topic["abstained"], off_topic["model_used"]) == (True, "none")

    with httpx.stream(
        "POST",
        f"{service.base_url}/api/chat/stream",
        json={"agent_id": "support-agent", "question": "How do I reset a conversation?"},
        headers=headers,
        timeout=120,
    ) as streamed:
        events = [
            line.removeprefix("event: ") for line in streamed.iter_lines() if line.startswith("event: ")
        ]
    assert events[0] == "meta"
    assert events[-1] == "done"
    assert "token" in events

    client = openai.OpenAI(base_url=f"{service.base_url}/v1", api_key=key, max_retries=0, timeout=120)
    assert {model.id for model in client.models.list().data} == set(QUESTIONS)
    completion = client.chat.completions.create(
        model="technical-expert", messages=[{"role": "user", "content": "What does /health/ready check?"}]
    )
    assert completion.choices[0].message.content
    extra = completion.model_extra or {}
    assert extra["model_used"] == "extractive"
    assert extra["citations"]
    client.close()
