"""Many requests with one key at once, over real connections to a served app with a small pool.

The fake upstream holds every request until all of them are held together (`gather`): requests
that ran one after another, or that each kept a pooled connection while the model answered,
could never all be held at once, and would fail. While they are held, PostgreSQL shows no
connection left idle in a transaction. Data is committed (the app has its own pool and sees
nothing uncommitted) and deleted at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.auth.keys import create_key
from purpose_agent.auth.models import ApiKey
from purpose_agent.auth.principal import Role
from purpose_agent.chat.models import ChatSession
from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.embeddings.local import LocalEmbedder
from purpose_agent.knowledge.index import HNSW_INDEX
from purpose_agent.knowledge.ingestion import ingest_document
from purpose_agent.knowledge.models import Category, Document, DocumentContent
from purpose_agent.llm.models import FailoverEvent, UsageRecord
from purpose_agent.personas.models import Persona
from purpose_agent.settings import ProviderSettings, Settings
from tests.chat.conftest import create_persona
from tests.knowledge.test_ingestion import manual_pdf
from tests.live_server import LiveServer
from tests.llm.fake_upstream import FakeUpstream, Fault

CATEGORY = "concurrency-manuals"
GATEWAY = "concurrency-gateway"
RAG = "concurrency-kettle"
REQUEST_ID_PREFIX = "concurrency-"
POOL_SIZE = 2  # two connections: far fewer than the requests held at once


@dataclass
class Deployment:
    server: LiveServer
    key: str
    key_id: uuid.UUID
    sessionmaker: async_sessionmaker[AsyncSession]

    def client(self, connections: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(
            base_url=self.server.base_url, headers={"X-API-Key": self.key}, limits=limits, timeout=60
        )


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[tuple[str, uuid.UUID]]:
    """A user key, a gateway persona and a persona answering from an ingested manual, all committed."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as session, session.begin():
        issued = await create_key(session, name="concurrency", role=Role.user)
        create_persona(
            session, id=GATEWAY, retrieval=False, knowledge_category=None, instructions="Be brief."
        )
        create_persona(session, id=RAG, knowledge_category=CATEGORY)
        session.add(Category(name=CATEGORY, description="manuals for the concurrency test"))
        await session.flush()
        data = manual_pdf()
        document = Document(
            id=uuid.uuid4(),
            category=CATEGORY,
            source_name="kettle.pdf",
            sha256=hashlib.sha256(data).hexdigest(),
            mime="application/pdf",
            size_bytes=len(data),
        )
        session.add(document)
        await session.flush()
        session.add(DocumentContent(document_id=document.id, data=data))
    embedder = LocalEmbedder()
    try:
        await ingest_document(sessionmaker, document.id, embedder, ChunkingPolicy())
    finally:
        await embedder.aclose()
    try:
        yield issued.secret, issued.id
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(ChatSession).where(ChatSession.agent_id.in_([GATEWAY, RAG])))
            await session.execute(delete(Persona).where(Persona.id.in_([GATEWAY, RAG])))
            await session.execute(delete(Document).where(Document.category == CATEGORY))
            await session.execute(delete(Category).where(Category.name == CATEGORY))
            await session.execute(delete(ApiKey).where(ApiKey.id == issued.id))
            for table in (UsageRecord, FailoverEvent):
                await session.execute(delete(table).where(table.request_id.startswith(REQUEST_ID_PREFIX)))
            # The index was made for this test's chunks; other tests record their own embedder.
            if not await session.scalar(text("SELECT count(*) FROM chunks")):
                await session.execute(text("DELETE FROM embedding_index"))
                await session.execute(text(f"DROP INDEX IF EXISTS {HNSW_INDEX}"))


@pytest.fixture
def deployment(
    settings: Settings, engine: AsyncEngine, committed: tuple[str, uuid.UUID]
) -> Iterator[Deployment]:
    served = settings.changed(database_pool_size=POOL_SIZE, rate_limit_enabled=False, llm_chain="openai")
    server = LiveServer(served).start()
    try:
        yield Deployment(server, committed[0], committed[1], async_sessionmaker(engine))
    finally:
        server.stop()


async def idle_in_transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND state LIKE 'idle in transaction%' "
                "AND pid <> pg_backend_pid()"
            )
        )
    return int(found or 0)


async def held_together(
    fake: FakeUpstream, deployment: Deployment, requests: list[asyncio.Task[httpx.Response]], count: int
) -> None:
    """Wait until the fake holds `count` requests; check no connection idles in a transaction; release."""
    for _ in range(600):
        if fake.held >= count or any(task.done() for task in requests):
            break
        await asyncio.sleep(0.05)
    assert fake.held == count, [task.result().text for task in requests if task.done()][:1]
    assert await idle_in_transaction(deployment.sessionmaker) == 0, "a connection idles during the call"
    async with httpx.AsyncClient() as direct:  # the last one the fake waits for: releases them all
        await direct.post(f"{fake.base_url}/v1/chat/completions", json={"model": "gpt-4o", "messages": []})


def request_headers(number: int) -> dict[str, str]:
    return {"X-Request-ID": f"{REQUEST_ID_PREFIX}{uuid.uuid4().hex[:8]}-{number}"}


async def test_64_non_streamed_requests_with_one_key_overlap_on_a_pool_of_four(
    deployment: Deployment, openai_fake: FakeUpstream
) -> None:
    count = 64
    openai_fake.set_fault(Fault(kind="gather", gather=count + 1, hang_seconds=60, times=count + 1))
    body = {"model": GATEWAY, "messages": [{"role": "user", "content": "Say hello."}]}
    async with deployment.client(count) as client:
        requests = [
            asyncio.create_task(client.post("/v1/chat/completions", json=body, headers=request_headers(n)))
            for n in range(count)
        ]
        await held_together(openai_fake, deployment, requests, count)
        responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200] * count, responses[0].text
    answer = responses[0].json()
    assert answer["choices"][0]["message"]["content"] == "The heating element is covered for five years [1]."
    assert (answer["citations"], answer["model_used"]) == ([], "openai/gpt-4o")
    sent = openai_fake.requests[0].body["messages"]
    assert sent == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello."},
    ], "a persona with retrieval off sends its style and the question, no context rules"

    async with deployment.sessionmaker() as session:  # the key's use, written once, off the request path
        for _ in range(100):
            if await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == deployment.key_id)):
                break
            await asyncio.sleep(0.05)
        assert await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == deployment.key_id))


async def test_rag_answers_and_streams_with_one_key_overlap_and_every_exchange_is_stored(
    deployment: Deployment, openai_fake: FakeUpstream
) -> None:
    count = 24
    openai_fake.set_fault(Fault(kind="gather", gather=count + 1, hang_seconds=60, times=count + 1))
    question = {"agent_id": RAG, "question": "How long is the heating element covered?"}

    async def streamed(client: httpx.AsyncClient, number: int) -> httpx.Response:
        async with client.stream(
            "POST", "/api/chat/stream", json=question, headers=request_headers(number)
        ) as response:
            await response.aread()
            return response

    async with deployment.client(count) as client:
        requests: list[asyncio.Task[httpx.Response]] = [
            asyncio.create_task(
                client.post("/api/chat", json=question, headers=request_headers(n))
                if n % 2
                else streamed(client, n)
            )
            for n in range(count)
        ]
        await held_together(openai_fake, deployment, requests, count)
        responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200] * count
    answers: list[dict[str, Any]] = [r.json() for r in responses[1::2]]
    assert all(a["model_used"] == "openai/gpt-4o" and a["citations"] for a in answers)
    assert all(b"event: done" in r.content for r in responses[0::2])
    async with deployment.sessionmaker() as session:
        stored = await session.scalar(
            text("SELECT count(*) FROM chat_sessions WHERE agent_id = :agent"), {"agent": RAG}
        )
    assert stored == count, "every answer, streamed or not, stored its exchange"


async def test_a_full_pool_is_a_503_problem_with_retry_after(
    settings: Settings, engine: AsyncEngine, committed: tuple[str, uuid.UUID]
) -> None:
    served = settings.changed(
        database_pool_size=1,
        database_pool_timeout_seconds=0.5,
        rate_limit_enabled=False,
        auth_cache_seconds=0,
    )
    server = LiveServer(served).start()
    deployment = Deployment(server, committed[0], committed[1], async_sessionmaker(engine))
    # The app's one connection waits in the write phase of an answer, for the persona's row that
    # another transaction holds; the next request finds no connection.
    blocker = await engine.connect()
    await blocker.begin()
    await blocker.execute(text("SELECT 1 FROM personas WHERE id = :id FOR UPDATE"), {"id": GATEWAY})
    question = {"agent_id": GATEWAY, "question": "Hello?"}
    try:
        async with deployment.client(8) as client:
            held = [asyncio.create_task(client.post("/api/chat", json=question))]
            await asyncio.sleep(1.0)
            refused = await client.post("/api/chat", json=question)
            await blocker.rollback()
            answered = await asyncio.gather(*held)
    finally:
        await blocker.close()
        server.stop()
    assert [r.status_code for r in answered] == [200], "the waiting answer finishes once the lock goes"
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["type"] == "/problems/database-busy"


async def test_a_client_that_leaves_mid_stream_stops_the_model_call_and_nothing_is_stored(
    deployment: Deployment, openai_fake: FakeUpstream
) -> None:
    openai_fake.reply.chunks = ["word "] * 400
    openai_fake.reply.chunk_delay = 0.05  # 20 s in all, unless the caller leaves
    question = {"agent_id": RAG, "question": "How long is the heating element covered?"}
    async with (
        deployment.client(1) as client,
        client.stream("POST", "/api/chat/stream", json=question) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        meta = json.loads([await anext(lines) for _ in range(2)][1].removeprefix("data: "))
        tokens = 0
        async for line in lines:
            tokens += line.startswith("event: token")
            if tokens == 3:
                break  # the client goes away mid-answer
    for _ in range(100):
        if openai_fake.abandoned:
            break
        await asyncio.sleep(0.05)
    assert openai_fake.abandoned == 1, "the upstream stream was closed, not read to its end"
    await asyncio.sleep(0.5)
    async with deployment.sessionmaker() as session:
        stored = await session.scalar(
            text("SELECT count(*) FROM chat_sessions WHERE id = :id"), {"id": uuid.UUID(meta["session_id"])}
        )
    assert stored == 0, "an answer never finished is never stored"


async def test_a_client_that_gives_up_on_a_whole_answer_frees_the_local_model(
    settings: Settings, committed: tuple[str, uuid.UUID]
) -> None:
    served = settings.changed(
        rate_limit_enabled=False,
        llm_chain="local",
        llm_providers={"local": ProviderSettings(_env_file=None, max_queued=0)},
        llm_extractive_fallback=False,
    )
    server = LiveServer(served).start()
    long = {
        "model": GATEWAY,
        "max_tokens": 1500,
        "messages": [{"role": "user", "content": "Write the numbers from 1 to 1000, separated by commas."}],
    }
    short = {"model": GATEWAY, "max_tokens": 5, "messages": [{"role": "user", "content": "Say hi."}]}
    try:
        async with httpx.AsyncClient(base_url=server.base_url, headers={"X-API-Key": committed[0]}) as client:
            assert (await client.post("/v1/chat/completions", json=short, timeout=60)).status_code == 200
            with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
                await client.post("/v1/chat/completions", json=long, timeout=1.5)
            # The one generation the model runs at a time was stopped with its request, not after
            # up to 1,500 more tokens: the next question is answered, not refused as busy.
            statuses = []
            for _ in range(20):
                answered = await client.post("/v1/chat/completions", json=short, timeout=60)
                statuses.append(answered.status_code)
                if answered.status_code == 200:
                    break
                await asyncio.sleep(0.25)
    finally:
        server.stop()
    assert statuses[-1] == 200, statuses
    assert answered.json()["model_used"] == "local/smollm2-135m-instruct"
