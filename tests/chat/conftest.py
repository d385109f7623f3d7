"""Chat against the real app, database and embedder, with OpenAI then Anthropic as local fake servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from purpose_agent.app import create_app
from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.embeddings.local import LocalEmbedder
from purpose_agent.knowledge.ingestion import ingest_document
from purpose_agent.llm.models import FailoverEvent, UsageRecord
from purpose_agent.personas.models import Persona
from purpose_agent.settings import ProviderSettings, Settings
from tests.app_context import context, swap_context
from tests.conftest import LogCapture, api_client
from tests.knowledge.test_ingestion import manual_pdf, stored_document
from tests.llm.fake_upstream import FakeUpstream, RecordedRequest
from tests.llm.fakes import reset


@pytest.fixture(scope="session")
async def embedder() -> AsyncIterator[LocalEmbedder]:
    """The default embedder, one thread as in an API process, for the tests that call chat's parts."""
    model = LocalEmbedder(threads=1)
    yield model
    await model.aclose()


@pytest.fixture(autouse=True)
def reset_fakes(openai_fake: FakeUpstream, anthropic_fake: FakeUpstream) -> None:
    reset(openai_fake, anthropic_fake)
    for fake in (openai_fake, anthropic_fake):
        fake.reply.chunks = ["The heating element", " is covered for five years [1]."]


def fake_provider(base_url: str, model: str) -> ProviderSettings:
    return ProviderSettings(
        _env_file=None,
        api_key="sk-test-0001",
        base_url=base_url,
        model=model,
        max_retries=0,
        read_timeout_seconds=2,
        connect_timeout_seconds=1,
    )


@pytest.fixture
def settings(settings: Settings, openai_fake: FakeUpstream, anthropic_fake: FakeUpstream) -> Settings:
    """The test deployment with OpenAI then Anthropic; breakers in memory, so each test starts closed."""
    return settings.changed(
        redis_url="",
        llm_chain="openai,anthropic",
        llm_providers={
            "openai": fake_provider(f"{openai_fake.base_url}/v1", "gpt-4o"),
            "anthropic": fake_provider(anthropic_fake.base_url, "claude-test"),
        },
        llm_retry_base_seconds=0.01,
        llm_heartbeat_seconds=0.05,
    )


def create_persona(session: AsyncSession, **fields: Any) -> Persona:
    values: dict[str, Any] = {
        "id": "kettle-helper",
        "name": "Kettle helper",
        "description": "Answers questions about the kettle.",
        "instructions": "Answer briefly and kindly.",
        "knowledge_category": "manuals",
        "temperature": 0.0,
        "max_tokens": 200,
        "top_k": 3,
        "min_score": 0.3,
        **fields,
    }
    persona = Persona(**values)
    session.add(persona)
    return persona


@pytest.fixture
async def kettle(
    app: FastAPI, session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> Persona:
    """The kettle manual (3 pages) ingested in `manuals`, and a persona answering from it."""
    document_id = await stored_document(session, manual_pdf(), "application/pdf", "kettle.pdf")
    await ingest_document(test_sessionmaker, document_id, context(app).embedder, ChunkingPolicy())
    persona = create_persona(session)
    await session.flush()
    return persona


@pytest.fixture
async def request_id(engine: AsyncEngine) -> AsyncIterator[str]:
    """A request id of this test; the routes it records are committed by the recorder, so deleted here."""
    request_id = f"chat-test-{uuid.uuid4().hex}"
    yield request_id
    async with async_sessionmaker(engine)() as session, session.begin():
        for table in (UsageRecord, FailoverEvent):
            await session.execute(delete(table).where(table.request_id == request_id))


async def usage_rows(
    app: FastAPI, engine: AsyncEngine, request_id: str, *columns: InstrumentedAttribute[Any]
) -> list[tuple[object, ...]]:
    """These columns of the usage rows written for one request, once the recorder has written them."""
    await context(app).recorder.drain()
    async with async_sessionmaker(engine)() as session:
        rows = await session.execute(select(*columns).where(UsageRecord.request_id == request_id))
        return [tuple(row) for row in rows]


def sent_messages(request: RecordedRequest) -> list[dict[str, Any]]:
    """The chat messages as an OpenAI-format request carried them."""
    messages: list[dict[str, Any]] = request.body["messages"]
    return messages


AppFactory = Callable[..., AbstractAsyncContextManager[AsyncClient]]


@pytest.fixture
def app_with(
    settings: Settings,
    engine: AsyncEngine,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    user_key: str,
    logs: LogCapture,
) -> AppFactory:
    """Another app on the same database with some settings changed, called as the test user."""

    @asynccontextmanager
    async def build(**changes: Any) -> AsyncIterator[AsyncClient]:
        application = create_app(settings.changed(**changes), engine=engine)
        async with LifespanManager(application):
            swap_context(application, sessionmaker=test_sessionmaker)
            async with api_client(application, user_key) as client:
                yield client

    return build
