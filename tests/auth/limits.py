"""Fixtures of the key scope and quota tests, imported by each of their modules.

OpenAI is the local fake, answering every question with 11 prompt and 5 completion tokens, priced
high enough (LLM_PRICES) that a cost quota is reached in two answers. Two agents answer from two
categories: `kettle-helper` from the kettle manual (manuals), `refunds-helper` from a refunds note
(billing). Keys are made through the API, as an admin makes them.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.ingestion import ingest_document
from purpose_agent.knowledge.models import Category, Document, DocumentContent
from purpose_agent.personas.models import Persona
from purpose_agent.settings import Settings
from tests.app_context import context
from tests.chat.conftest import create_persona, fake_provider
from tests.llm.fake_upstream import FakeUpstream
from tests.llm.fakes import reset

# US dollars per million prompt and completion tokens: 16 tokens cost $0.016.
PRICE_PER_MILLION = 1000.0
PROMPT_TOKENS, COMPLETION_TOKENS = 11, 5
ANSWER_COST = (PROMPT_TOKENS + COMPLETION_TOKENS) * PRICE_PER_MILLION / 1_000_000
WARRANTY = "How long is the heating element covered?"
REFUNDS = "Kettle refunds: a faulty kettle is refunded in full within 30 days of purchase."


class MovableClock:
    """A clock for the app (`swap_context(app, clock=...)`) that a test sets."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(settings: Settings, openai_fake: FakeUpstream) -> Settings:
    """The test deployment (real Redis) with OpenAI as the fake, its answers priced."""
    return settings.changed(
        llm_chain="openai",
        llm_providers={"openai": fake_provider(f"{openai_fake.base_url}/v1", "gpt-4o")},
        llm_prices={"openai/gpt-4o": (PRICE_PER_MILLION, PRICE_PER_MILLION)},
        llm_retry_base_seconds=0.01,
    )


@pytest.fixture(autouse=True)
def answers(openai_fake: FakeUpstream) -> None:
    reset(openai_fake)
    openai_fake.reply.chunks = ["The heating element", " is covered for five years [1]."]


@pytest.fixture
async def agents(
    app: FastAPI, session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> list[Persona]:
    """`kettle-helper` (manuals: the kettle manual) and `refunds-helper` (billing: a refunds note)."""
    from tests.knowledge.test_ingestion import manual_pdf, stored_document

    embedder = context(app).embedder
    manual = await stored_document(session, manual_pdf(), "application/pdf", "kettle.pdf")
    session.add(Category(name="billing", description="refunds"))
    data = REFUNDS.encode()
    note = Document(
        id=uuid.uuid4(),
        category="billing",
        source_name="refunds.txt",
        sha256=hashlib.sha256(data).hexdigest(),
        mime="text/plain",
        size_bytes=len(data),
    )
    session.add(note)
    await session.flush()
    session.add(DocumentContent(document_id=note.id, data=data))
    await session.flush()
    for document_id in (manual, note.id):
        await ingest_document(test_sessionmaker, document_id, embedder, ChunkingPolicy())
    personas = [
        create_persona(session),
        create_persona(
            session,
            id="refunds-helper",
            name="Refunds helper",
            description="Answers questions about refunds.",
            knowledge_category="billing",
        ),
    ]
    await session.flush()
    return personas


async def make_key(admin: AsyncClient, **fields: Any) -> tuple[str, str]:
    """A key made through POST /api/keys with these scope and quota fields: its id and its secret."""
    response = await admin.post("/api/keys", json={"name": "limited", **fields})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], body["key"]


async def ask(client: AsyncClient, agent_id: str = "kettle-helper") -> Response:
    """POST /api/chat with the warranty question."""
    return await client.post("/api/chat", json={"agent_id": agent_id, "question": WARRANTY})


def refused(response: Response, status: int, slug: str) -> dict[str, Any]:
    """The problem of a refusal, checked to be one of `slug` with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"/problems/{slug}"
    return problem
