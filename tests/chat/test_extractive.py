"""The last tier: with every model down, chat quotes the retrieved passages, and records one such route."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from purpose_agent.chat.extractive import INTRODUCTION, extractive_answer
from purpose_agent.chat.passages import Passage
from purpose_agent.llm.models import FailoverEvent, UsageRecord
from purpose_agent.personas.models import Persona
from tests.app_context import context
from tests.chat.test_chat import WARRANTY
from tests.chat.test_stream import stream
from tests.llm.fake_upstream import FakeUpstream, Fault

PASSAGES = (
    Passage(2, "Shipping takes five days.", "shipping.md", score=0.4),
    Passage(
        1,
        "Refunds are accepted within 30 days of purchase.",
        "policy.pdf",
        page=4,
        heading="Refunds",
        score=0.9,
    ),
)


def test_the_best_passages_are_quoted_first_with_their_number_and_origin() -> None:
    text = extractive_answer(PASSAGES)
    assert text.startswith(INTRODUCTION)
    assert '[1] "Refunds are accepted within 30 days of purchase." (policy.pdf, page 4, Refunds)' in text
    assert '[2] "Shipping takes five days." (shipping.md)' in text
    assert text.index("[1]") < text.index("[2]")


@pytest.fixture
def models_down(openai_fake: FakeUpstream, anthropic_fake: FakeUpstream) -> None:
    for fake in (openai_fake, anthropic_fake):
        fake.set_fault(Fault(kind="status", status=503))


@pytest.fixture
async def request_id(engine: AsyncEngine) -> AsyncIterator[str]:
    """A request id of this test; the routes it records are committed by the recorder, so deleted here."""
    request_id = f"extractive-{uuid.uuid4().hex}"
    yield request_id
    async with async_sessionmaker(engine)() as session, session.begin():
        for table in (UsageRecord, FailoverEvent):
            await session.execute(delete(table).where(table.request_id == request_id))


async def recorded(
    app: FastAPI, engine: AsyncEngine, request_id: str
) -> tuple[list[tuple[object, ...]], ...]:
    """The usage rows and the failover rows written for one request."""
    await context(app).recorder.drain()
    async with async_sessionmaker(engine)() as session:
        usage = await session.execute(
            select(
                UsageRecord.model_used,
                UsageRecord.prompt_tokens,
                UsageRecord.completion_tokens,
                UsageRecord.cost_usd,
                UsageRecord.failed_attempts,
            ).where(UsageRecord.request_id == request_id)
        )
        failovers = await session.execute(
            select(FailoverEvent.provider, FailoverEvent.reason, FailoverEvent.answered_by)
            .where(FailoverEvent.request_id == request_id)
            .order_by(FailoverEvent.id)
        )
        return [tuple(row) for row in usage], [tuple(row) for row in failovers]


EXTRACTIVE_ROUTE = (
    [("extractive", 0, 0, 0.0, 2)],
    [("openai", "server_error", "extractive"), ("anthropic", "server_error", "extractive")],
)


@pytest.fixture
def client_of_request(
    user_client: AsyncClient, kettle: Persona, models_down: None, request_id: str
) -> AsyncClient:
    """The test user asking the kettle persona with every model down, under the test's request id."""
    user_client.headers["X-Request-ID"] = request_id
    return user_client


async def test_an_answer_with_every_model_down_quotes_the_passages_and_records_one_extractive_route(
    app: FastAPI, engine: AsyncEngine, client_of_request: AsyncClient, request_id: str
) -> None:
    response = await client_of_request.post(
        "/api/chat", json={"agent_id": "kettle-helper", "question": WARRANTY}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_used"] == "extractive"
    assert body["answer"].startswith(INTRODUCTION)
    assert body["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}
    assert await recorded(app, engine, request_id) == EXTRACTIVE_ROUTE


async def test_a_stream_with_every_model_down_sends_the_quotes_as_one_token_then_done(
    app: FastAPI, engine: AsyncEngine, client_of_request: AsyncClient, request_id: str
) -> None:
    events, _ = await stream(client_of_request, WARRANTY)
    assert [name for name, _ in events] == ["meta", "token", "done"]
    quoted = events[1][1]["text"]
    assert quoted.startswith(INTRODUCTION)
    assert "five years" in quoted
    done = events[2][1]
    assert done["model_used"] == "extractive"
    assert done["citations"], "the quoted passages are cited"
    history = (await client_of_request.get(f"/api/sessions/{done['session_id']}")).json()
    assert [m["content"] for m in history["messages"]] == [WARRANTY, quoted]
    assert await recorded(app, engine, request_id) == EXTRACTIVE_ROUTE


async def test_an_openai_client_gets_the_quotes_when_every_model_is_down(
    user_client: AsyncClient, kettle: Persona, models_down: None
) -> None:
    question = {"model": "kettle-helper", "messages": [{"role": "user", "content": WARRANTY}]}
    whole = (await user_client.post("/v1/chat/completions", json=question)).json()
    assert whole["model_used"] == "extractive"
    assert whole["choices"][0]["message"]["content"].startswith(INTRODUCTION)

    streamed = await user_client.post("/v1/chat/completions", json=question | {"stream": True})
    chunks = [
        json.loads(line[len("data: ") :]) for line in streamed.text.splitlines() if line.startswith("data: {")
    ]
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["model_used"] == "extractive"
