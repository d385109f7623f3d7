"""With no remote model (the chain is the built-in one alone, LLM_LOCAL_ANSWERS unset), questions are
answered by quoting the sample knowledge's sentences that answer them, on every surface."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.app import create_app
from purpose_agent.chat.extractive import LEAD_INS, ExtractiveReason
from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.detection import detect_type
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.ingestion import ingest_document
from purpose_agent.knowledge.models import Category, Document, DocumentContent
from purpose_agent.llm.providers.local import LocalProvider
from purpose_agent.settings import ProviderSettings, Settings
from tests.app_context import context, swap_context
from tests.chat.conftest import create_persona
from tests.chat.test_extractive import recorded
from tests.chat.test_stream import stream
from tests.conftest import api_client
from tests.mcp.conftest import mcp_client, structured

SAMPLE_SUPPORT = Path(__file__).resolve().parents[2] / "knowledge" / "support"
TOO_LARGE = "What does a 413 error mean?"
ANSWER_413 = "A 413 means the body of your request was larger than the service accepts"


async def ingest_folder(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], embedder: Embedder, folder: Path
) -> None:
    """Every file of `folder` ingested, as `purpose-agent ingest` would, into the category named by it."""
    session.add(Category(name=folder.name, description="sample knowledge"))
    await session.flush()
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        document = Document(
            id=uuid.uuid4(),
            category=folder.name,
            source_name=path.name,
            sha256=hashlib.sha256(data).hexdigest(),
            mime=detect_type(data, path.name),
            size_bytes=len(data),
        )
        session.add(document)
        await session.flush()
        session.add(DocumentContent(document_id=document.id, data=data))
        await session.flush()
        await ingest_document(sessionmaker, document.id, embedder, ChunkingPolicy())


@pytest.fixture
async def offline(
    settings: Settings,
    engine: AsyncEngine,
    session: AsyncSession,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    user_key: str,
) -> AsyncIterator[FastAPI]:
    """An app whose chain is the built-in model alone, with the sample support knowledge and its agent."""
    offline_settings = settings.changed(
        llm_chain="local", llm_providers={"local": ProviderSettings(_env_file=None)}
    )
    application = create_app(offline_settings, engine=engine)
    async with LifespanManager(application):
        swap_context(application, sessionmaker=test_sessionmaker)
        await ingest_folder(session, test_sessionmaker, context(application).embedder, SAMPLE_SUPPORT)
        create_persona(session, id="support-agent", knowledge_category="support", top_k=5)
        await session.flush()
        yield application


def cited_source(answer: dict[str, Any], sentence: str) -> dict[str, Any]:
    """The citation of the quote holding `sentence`: the [n] that closes its paragraph."""
    [paragraph] = [part for part in answer["answer"].split("\n\n") if sentence in part]
    number = int(re.findall(r"\[(\d+)\]$", paragraph)[0])
    citations: list[dict[str, Any]] = [c for c in answer["citations"] if c["index"] == number]
    [citation] = citations
    return citation


async def test_the_413_question_is_answered_by_quoting_the_sentence_that_answers_it_with_no_model(
    offline: FastAPI, engine: AsyncEngine, user_key: str, request_id: str
) -> None:
    async with api_client(offline, user_key) as client:
        response = await client.post(
            "/api/chat",
            json={"agent_id": "support-agent", "question": TOO_LARGE},
            headers={"X-Request-ID": request_id},
        )
    assert response.status_code == 200, response.text
    body = response.json()

    assert body["answer"].startswith(LEAD_INS[ExtractiveReason.default])
    assert ANSWER_413 in body["answer"].split("\n\n")[1], "the sentence that answers comes first"
    citation = cited_source(body, ANSWER_413)
    assert citation["source"] == "errors-and-troubleshooting.md"
    assert citation["heading"].endswith("413 Body or document too large")
    assert (body["model_used"], body["extractive_reason"]) == ("extractive", "default")
    assert (body["grounded"], body["unsupported"], body["abstained"]) == (True, [], False)
    assert body["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}
    local = context(offline).router.providers["local"]
    assert isinstance(local, LocalProvider)
    assert not local.loaded, "the built-in model was never asked"
    assert await recorded(offline, engine, request_id) == ([("extractive", 0, 0, 0.0, 0)], [])


async def test_every_surface_quotes_the_same_sentences(offline: FastAPI, user_key: str) -> None:
    question = "How do I reset a conversation?"
    async with api_client(offline, user_key) as client:
        rest = (
            await client.post("/api/chat", json={"agent_id": "support-agent", "question": question})
        ).json()
        events, _ = await stream(client, question, agent_id="support-agent")
        compatible = (
            await client.post(
                "/v1/chat/completions",
                json={"model": "support-agent", "messages": [{"role": "user", "content": question}]},
            )
        ).json()
    async with mcp_client(offline, user_key) as mcp:
        tool = structured(
            await mcp.call_tool("ask_agent", {"agent_id": "support-agent", "question": question})
        )

    assert "send your next question without a session_id" in rest["answer"]
    assert cited_source(rest, "without a session_id")["source"] == "faq.md"
    assert [name for name, _ in events] == ["meta", "token", "done"], "the quotes come as one piece"
    done = events[2][1]
    assert events[1][1]["text"] == rest["answer"]
    assert (done["model_used"], done["extractive_reason"], done["grounded"], done["unsupported"]) == (
        "extractive",
        "default",
        True,
        [],
    )
    assert compatible["choices"][0]["message"]["content"] == rest["answer"]
    assert (compatible["model_used"], compatible["extractive_reason"], compatible["grounded"]) == (
        "extractive",
        "default",
        True,
    )
    assert (tool["answer"], tool["model_used"], tool["extractive_reason"], tool["grounded"]) == (
        rest["answer"],
        "extractive",
        "default",
        True,
    )
