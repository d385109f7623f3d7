"""POST /api/chat/stream as a client reads it: meta, tokens, done; failover before the first token; errors."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.chat.models import ChatMessage
from purpose_agent.llm.models import FailoverEvent, UsageRecord
from purpose_agent.personas.models import Persona
from tests.app_context import context
from tests.chat.test_chat import WARRANTY
from tests.llm.fake_upstream import FakeUpstream, Fault


async def stream(client: AsyncClient, question: str, **fields: object) -> tuple[list[tuple[str, Any]], str]:
    """The events (name, data) of one streamed answer, and the raw body."""
    response = await client.post(
        "/api/chat/stream", json={"agent_id": "kettle-helper", "question": question, **fields}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(":")]
        if not lines:
            continue
        name = next(line[len("event: ") :] for line in lines if line.startswith("event: "))
        data = "".join(line[len("data: ") :] for line in lines if line.startswith("data: "))
        events.append((name, json.loads(data)))
    return events, response.text


async def test_a_stream_sends_meta_tokens_and_done_and_is_remembered(
    user_client: AsyncClient, kettle: Persona, session: AsyncSession
) -> None:
    events, _ = await stream(user_client, WARRANTY)
    names = [name for name, _ in events]
    assert names[0] == "meta"
    assert names[-1] == "done"
    assert set(names[1:-1]) == {"token"}
    meta, done = events[0][1], events[-1][1]
    assert meta["citations"][0]["page"] == 3
    text = "".join(data["text"] for name, data in events if name == "token")
    assert text == "The heating element is covered for five years [1]."
    assert done["model_used"] == "openai/gpt-4o"
    assert done["failovers"] == [], "the first call answered"
    assert [c["index"] for c in done["citations"]] == [1]
    assert done["session_id"] == meta["session_id"]

    history = (await user_client.get(f"/api/sessions/{meta['session_id']}")).json()
    assert [m["content"] for m in history["messages"]] == [WARRANTY, text]


async def test_a_provider_that_fails_before_its_first_token_is_replaced_and_done_names_the_failover(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    openai_fake.set_fault(Fault(kind="status", status=500))
    events, _ = await stream(user_client, WARRANTY)
    assert [name for name, _ in events if name == "error"] == []
    assert events[-1] == ("done", events[-1][1])
    done = events[-1][1]
    assert done["model_used"] == "anthropic/claude-test"
    assert [(f["provider"], f["reason"], f["status"]) for f in done["failovers"]] == [
        ("openai", "server_error", 500)
    ]
    assert done["failovers"][0]["latency_ms"] > 0
    assert len(openai_fake.requests) == 1


async def test_a_provider_that_dies_after_its_first_token_ends_with_a_typed_error_and_stores_nothing(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream, session: AsyncSession
) -> None:
    openai_fake.reply.chunks = ["The heating", " element", " is", " covered."]
    openai_fake.set_fault(Fault(kind="cut", cut_after=3))
    events, _ = await stream(user_client, WARRANTY)
    names = [name for name, _ in events]
    assert "token" in names
    assert names[-1] == "error"
    problem = events[-1][1]
    assert (problem["status"], problem["type"]) == (502, "/problems/answer-interrupted")
    assert problem["request_id"]
    assert await session.scalar(select(func.count()).select_from(ChatMessage)) == 0


async def test_a_stream_cut_after_its_first_token_is_in_the_usage_and_failover_records(
    app: FastAPI, user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream, session: AsyncSession
) -> None:
    openai_fake.reply.chunks = ["The heating", " element", " is", " covered."]
    openai_fake.set_fault(Fault(kind="cut", cut_after=3))
    events, _ = await stream(user_client, WARRANTY)
    request_id = events[-1][1]["request_id"]
    await context(app).recorder.drain()  # records are written in batches, off the request
    failures = (
        await session.scalars(select(FailoverEvent).where(FailoverEvent.request_id == request_id))
    ).all()
    assert [(f.provider, f.reason, f.answered_by) for f in failures] == [
        ("openai", "stream_interrupted", None)
    ]
    usage = (await session.scalars(select(UsageRecord).where(UsageRecord.request_id == request_id))).all()
    assert [u.model_used for u in usage] == [None]


async def test_heartbeats_flow_while_the_first_token_is_slow(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    openai_fake.reply.first_chunk_delay = 0.4
    events, raw = await stream(user_client, WARRANTY)
    assert ": heartbeat" in raw.split("event: token")[0]
    assert events[-1][0] == "done"


async def test_an_abstaining_stream_calls_no_provider(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    events, _ = await stream(user_client, "Who painted the ceiling of the Sistine Chapel?")
    assert events[-1][1]["abstained"] is True
    assert events[-1][1]["model_used"] == "none"
    assert openai_fake.requests == []
    assert anthropic_fake.requests == []


async def test_problems_before_the_stream_starts_are_ordinary_responses(
    user_client: AsyncClient, kettle: Persona
) -> None:
    response = await user_client.post("/api/chat/stream", json={"agent_id": "nobody-here", "question": "hi"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
