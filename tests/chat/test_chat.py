"""POST /api/chat end to end: retrieval, the prompt the provider receives, citations, sessions, failover."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import cast

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.app import create_app
from purpose_agent.chat.models import ChatMessage, ChatSession
from purpose_agent.chat.prompt import RULES
from purpose_agent.chat.service import ABSTENTION
from purpose_agent.chat.tasks import delete_expired_sessions
from purpose_agent.kit.clock import system_clock
from purpose_agent.llm.models import FailoverEvent
from purpose_agent.llm.types import ChatRequest, Message, StreamPart
from purpose_agent.personas.models import Persona
from purpose_agent.settings import ProviderSettings, Settings
from tests.app_context import context, swap_context
from tests.chat.conftest import AppFactory, create_persona, sent_messages
from tests.conftest import api_client
from tests.llm.fake_upstream import FakeUpstream, Fault
from tests.ports import free_port

WARRANTY = "How long is the heating element covered?"


async def ask(client: AsyncClient, question: str, **fields: object) -> dict[str, object]:
    response = await client.post(
        "/api/chat", json={"agent_id": "kettle-helper", "question": question} | fields
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_an_answer_cites_the_page_it_came_from_and_names_its_model(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    body = await ask(user_client, WARRANTY)
    assert body["answer"] == "The heating element is covered for five years [1]."
    assert body["model_used"] == "openai/gpt-4o"
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 5}
    assert body["abstained"] is False
    citations = body["citations"]
    assert isinstance(citations, list)
    assert len(citations) == 1, "only the cited passage"
    assert (citations[0]["index"], citations[0]["source"], citations[0]["page"]) == (1, "kettle.pdf", 3)
    assert citations[0]["heading"] == "Warranty"
    assert "five years" in citations[0]["snippet"]

    [request] = openai_fake.requests
    assert request.body["temperature"] == 0, "temperature 0 is honoured"
    system, question = sent_messages(request)[0], sent_messages(request)[-1]
    assert system["role"] == "system"
    assert system["content"].startswith(RULES)
    assert "Answer briefly and kindly." in system["content"]
    assert '<passage number="1" source="kettle.pdf, page 3, Warranty">' in system["content"]
    assert question == {"role": "user", "content": WARRANTY}


async def test_an_answer_that_cites_nothing_carries_every_passage_given(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    openai_fake.reply.chunks = ["Five years."]
    body = await ask(user_client, WARRANTY)
    citations = body["citations"]
    assert isinstance(citations, list)
    given = sent_messages(openai_fake.requests[0])[0]["content"].count("<passage number=")
    assert [c["index"] for c in citations] == list(range(1, given + 1))


async def test_a_follow_up_is_sent_with_the_previous_exchange(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream, session: AsyncSession
) -> None:
    first = await ask(user_client, WARRANTY)
    openai_fake.reply.chunks = ["Keep the receipt [1]."]
    second = await ask(user_client, "And what do I need to claim it?", session_id=first["session_id"])
    assert second["session_id"] == first["session_id"]

    messages = sent_messages(openai_fake.requests[1])
    assert messages[1:] == [
        {"role": "user", "content": WARRANTY},
        {"role": "assistant", "content": "The heating element is covered for five years [1]."},
        {"role": "user", "content": "And what do I need to claim it?"},
    ]
    history = (await user_client.get(f"/api/sessions/{first['session_id']}")).json()
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", WARRANTY),
        ("assistant", "The heating element is covered for five years [1]."),
        ("user", "And what do I need to claim it?"),
        ("assistant", "Keep the receipt [1]."),
    ]
    details = history["messages"][1]["details"]
    assert details["model_used"] == "openai/gpt-4o"
    assert (details["grounded"], details["unsupported"], details["extractive_reason"]) == (True, [], None)


async def test_a_question_outside_the_knowledge_abstains_without_calling_any_provider(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    body = await ask(user_client, "Who painted the ceiling of the Sistine Chapel?")
    assert (body["answer"], body["model_used"], body["abstained"], body["citations"]) == (
        ABSTENTION,
        "none",
        True,
        [],
    )
    assert openai_fake.requests == []
    assert anthropic_fake.requests == []


async def test_a_failing_provider_is_failed_over_and_the_answer_says_which_model(
    app: FastAPI,
    engine: AsyncEngine,
    user_client: AsyncClient,
    kettle: Persona,
    openai_fake: FakeUpstream,
    anthropic_fake: FakeUpstream,
    request_id: str,
) -> None:
    openai_fake.set_fault(Fault(kind="status", status=500))
    # The recorder commits from the app's own sessions: the rows are this request's, and the
    # `request_id` fixture deletes them afterwards, so no other test reads them.
    user_client.headers["X-Request-ID"] = request_id
    body = await ask(user_client, WARRANTY)
    assert body["model_used"] == "anthropic/claude-test"
    reported = cast(list[dict[str, object]], body["failovers"])
    assert [(f["provider"], f["model"], f["reason"], f["status"]) for f in reported] == [
        ("openai", "gpt-4o", "server_error", 500)
    ], "the answer names the attempt that failed before it"
    assert len(anthropic_fake.requests) == 1
    await context(app).recorder.drain()  # records are written in batches, off the request
    async with async_sessionmaker(engine)() as session:
        failovers = select(FailoverEvent).where(FailoverEvent.request_id == request_id)
        events = (await session.scalars(failovers)).all()
    assert [(e.provider, e.reason, e.answered_by) for e in events] == [
        ("openai", "server_error", "anthropic/claude-test")
    ]


async def test_every_provider_down_gives_quoted_passages_or_with_extractive_off_a_503_listing_attempts(
    user_client: AsyncClient,
    kettle: Persona,
    openai_fake: FakeUpstream,
    anthropic_fake: FakeUpstream,
    app_with: AppFactory,
    user_key: str,
) -> None:
    for fake in (openai_fake, anthropic_fake):
        fake.set_fault(Fault(kind="status", status=503))
    extractive = await ask(user_client, WARRANTY)
    assert extractive["model_used"] == "extractive"
    assert "five years" in str(extractive["answer"])
    assert extractive["citations"], "the quoted passages are cited"

    async with app_with(llm_extractive_fallback=False) as strict:
        response = await strict.post("/api/chat", json={"agent_id": "kettle-helper", "question": WARRANTY})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/no-model-answered"
    assert [(a["provider"], a["reason"], a["status"]) for a in problem["attempts"]] == [
        ("openai", "server_error", 503),
        ("anthropic", "server_error", 503),
    ]
    assert response.headers["retry-after"] == "10"


async def test_a_full_local_model_queue_is_a_503_problem_with_retry_after(
    settings: Settings,
    engine: AsyncEngine,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    kettle: Persona,
    user_key: str,
) -> None:
    changes = {
        "llm_chain": "local",
        "llm_local_answers": True,  # else the passages are quoted, with no model asked
        "llm_providers": {"local": ProviderSettings(_env_file=None, max_queued=0)},
        "llm_extractive_fallback": False,
    }
    application = create_app(settings.changed(**changes), engine=engine)
    async with LifespanManager(application):
        swap_context(application, sessionmaker=test_sessionmaker)
        local = context(application).router.providers["local"]
        request = ChatRequest(
            messages=(Message("user", "Write the numbers from 1 to 1000."),), temperature=0, max_tokens=800
        )
        # The local provider's stream is an async generator: closed here, it frees the model.
        busy = cast(AsyncGenerator[StreamPart, None], local.stream(request))
        try:
            await anext(busy)  # the one generation the model runs at a time
            async with api_client(application, user_key) as client:
                response = await client.post(
                    "/api/chat", json={"agent_id": "kettle-helper", "question": WARRANTY}
                )
        finally:
            await busy.aclose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "2", "a queue clears in about one answer"
    problem = response.json()
    assert [(a["provider"], a["reason"]) for a in problem["attempts"]] == [("local", "busy")]


async def test_a_failed_request_leaves_no_message_behind(
    app_with: AppFactory,
    kettle: Persona,
    openai_fake: FakeUpstream,
    anthropic_fake: FakeUpstream,
    session: AsyncSession,
) -> None:
    for fake in (openai_fake, anthropic_fake):
        fake.set_fault(Fault(kind="status", status=503))
    async with app_with(llm_extractive_fallback=False) as strict:
        assert (
            await strict.post("/api/chat", json={"agent_id": "kettle-helper", "question": WARRANTY})
        ).status_code == 503
    assert await session.scalar(select(func.count()).select_from(ChatMessage)) == 0
    assert await session.scalar(select(func.count()).select_from(ChatSession)) == 0


async def test_sessions_belong_to_their_principal_and_agent(
    user_client: AsyncClient, client: AsyncClient, kettle: Persona, session: AsyncSession
) -> None:
    first = await ask(user_client, WARRANTY)
    session_id = first["session_id"]
    # Another principal (the admin here) cannot see it exists.
    hidden = await client.get(f"/api/sessions/{session_id}")
    assert (hidden.status_code, hidden.json()["type"]) == (404, "/problems/session-not-found")
    other = await client.post(
        "/api/chat", json={"agent_id": "kettle-helper", "question": WARRANTY, "session_id": session_id}
    )
    assert other.status_code == 404

    create_persona(session, id="other-agent", name="Other")
    await session.flush()
    mismatch = await user_client.post(
        "/api/chat", json={"agent_id": "other-agent", "question": WARRANTY, "session_id": session_id}
    )
    assert (mismatch.status_code, mismatch.json()["type"]) == (409, "/problems/session-agent-mismatch")

    unknown = await user_client.get(f"/api/sessions/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert (await user_client.delete(f"/api/sessions/{session_id}")).status_code == 204
    assert (await user_client.get(f"/api/sessions/{session_id}")).status_code == 404


async def test_a_session_expires_a_day_after_its_last_message_and_the_cleanup_job_removes_it(
    app: FastAPI,
    user_client: AsyncClient,
    kettle: Persona,
    session: AsyncSession,
    test_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first = await ask(user_client, WARRANTY)
    session_id = first["session_id"]
    started = system_clock()
    swap_context(app, clock=lambda: started + timedelta(hours=23))
    await ask(user_client, "And what do I need to claim it?", session_id=session_id)  # slides the expiry

    swap_context(app, clock=lambda: started + timedelta(hours=46))
    assert (await user_client.get(f"/api/sessions/{session_id}")).status_code == 200, "23 h since the last"

    swap_context(app, clock=lambda: started + timedelta(hours=47, minutes=1))
    expired = await user_client.get(f"/api/sessions/{session_id}")
    assert (expired.status_code, expired.json()["type"]) == (404, "/problems/session-expired")
    again = await user_client.post(
        "/api/chat", json={"agent_id": "kettle-helper", "question": WARRANTY, "session_id": session_id}
    )
    assert again.json()["type"] == "/problems/session-expired"

    assert await delete_expired_sessions(test_sessionmaker, started + timedelta(hours=47, minutes=1), 1) == 1
    assert await session.get(ChatSession, uuid.UUID(str(session_id)), populate_existing=True) is None
    assert await session.scalar(select(func.count()).select_from(ChatMessage)) == 0


async def test_bad_questions_and_unknown_agents_are_problems(
    user_client: AsyncClient, anonymous_client: AsyncClient, kettle: Persona
) -> None:
    for question in ("", "   ", "x" * 8001):
        response = await user_client.post(
            "/api/chat", json={"agent_id": "kettle-helper", "question": question}
        )
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["body.question"]
    unknown = await user_client.post("/api/chat", json={"agent_id": "no-such-agent", "question": "hi"})
    assert (unknown.status_code, unknown.json()["type"]) == (404, "/problems/agent-not-found")
    assert (
        await anonymous_client.post("/api/chat", json={"agent_id": "kettle-helper", "question": "hi"})
    ).status_code == 401


async def test_a_question_reaches_the_provider_cleaned(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    decomposed = "Cafe\u0301 \x00\x1b[31m" + WARRANTY
    response = await user_client.post("/api/chat", json={"agent_id": "kettle-helper", "question": decomposed})
    assert response.status_code == 200
    sent = openai_fake.requests[0].body["messages"][-1]["content"]
    assert sent == "Caf\u00e9 [31m" + WARRANTY


async def test_a_persona_with_retrieval_off_answers_anything_in_its_style_and_remembers(
    app: FastAPI, client: AsyncClient, user_client: AsyncClient, openai_fake: FakeUpstream
) -> None:
    created = await client.post(
        "/api/personas",
        json={"id": "plain-helper", "name": "Plain", "retrieval": False, "instructions": "Be terse."},
    )
    assert created.status_code == 201, created.text
    assert created.json()["knowledge_category"] is None
    agents = (await user_client.get("/api/agents")).json()
    assert {"id": "plain-helper", "knowledge_category": None}.items() <= next(
        agent for agent in agents if agent["id"] == "plain-helper"
    ).items()

    off_topic = "Who painted the ceiling of the Sistine Chapel?"
    first = await ask(user_client, off_topic, agent_id="plain-helper")
    assert (first["abstained"], first["citations"], first["model_used"]) == (False, [], "openai/gpt-4o")
    second = await ask(user_client, "And when?", agent_id="plain-helper", session_id=first["session_id"])
    assert second["session_id"] == first["session_id"]
    assert sent_messages(openai_fake.requests[-1]) == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": off_topic},
        {"role": "assistant", "content": first["answer"]},
        {"role": "user", "content": "And when?"},
    ], "no context rules, no passages: the style, the history and the question"


async def test_a_persona_that_retrieves_needs_a_category(client: AsyncClient) -> None:
    refused = await client.post("/api/personas", json={"id": "no-category", "name": "Nothing"})
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "body.knowledge_category"
    assert error["message"] == "Field required unless retrieval is false"


async def test_with_redis_down_chat_answers_on_breakers_and_limits_in_memory(
    app_with: AppFactory, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    async with app_with(redis_url=dead_redis, redis_timeout_seconds=0.5) as client:
        for _ in range(3):
            body = await ask(client, WARRANTY)
            assert body["model_used"] == "openai/gpt-4o"
        ready = await client.get("/health/ready")
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
