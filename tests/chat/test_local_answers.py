"""LLM_LOCAL_ANSWERS=true: the built-in model answers, capped, and an answer its passages do not support
is replaced by quoting them, before any of it reaches the client.

Its words cannot be chosen, so the built-in provider is first played by the fake OpenAI server under
the built-in's name (the router, the check and the replacement are the real ones), then the real
SmolLM2-135M is asked, and only what must hold whatever it writes is asserted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.app import create_app
from purpose_agent.chat.extractive import LEAD_INS, ExtractiveReason
from purpose_agent.llm.models import UsageRecord
from purpose_agent.llm.providers.base import ProviderConfig
from purpose_agent.llm.providers.openai import OpenAIProvider
from purpose_agent.llm.router import LLMRouter
from purpose_agent.personas.models import Persona
from purpose_agent.settings import ProviderSettings, Settings
from tests.app_context import context, swap_context
from tests.chat.conftest import usage_rows
from tests.chat.test_chat import WARRANTY
from tests.chat.test_stream import stream
from tests.conftest import api_client
from tests.llm.fake_upstream import FakeUpstream, Fault

BUILT_IN = "local/smollm2-135m-instruct"
CAP = 48


@pytest.fixture
def local_settings(settings: Settings) -> Settings:
    return settings.changed(
        llm_chain="local",
        llm_local_answers=True,
        llm_providers={"local": ProviderSettings(_env_file=None, max_tokens=CAP)},
    )


@pytest.fixture
async def stand_in(
    local_settings: Settings,
    engine: AsyncEngine,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    openai_fake: FakeUpstream,
) -> AsyncIterator[FastAPI]:
    """An app with LLM_LOCAL_ANSWERS=true whose built-in provider is the fake OpenAI server."""
    application = create_app(local_settings, engine=engine)
    async with LifespanManager(application):
        parts = context(application)
        provider = OpenAIProvider(
            ProviderConfig(
                name="local",
                model="smollm2-135m-instruct",
                api_key="sk-test-0001",
                base_url=f"{openai_fake.base_url}/v1",
                max_retries=0,
            )
        )
        router = LLMRouter([provider], parts.router.breakers, parts.router.policy, recorder=parts.recorder)
        chat = dataclasses.replace(parts.chat, router=router)
        swap_context(application, sessionmaker=test_sessionmaker, router=router, chat=chat)
        yield application
        await provider.aclose()


async def usage(app: FastAPI, engine: AsyncEngine, request_id: str) -> list[tuple[object, ...]]:
    columns = (UsageRecord.grounded, UsageRecord.unsupported_sentences, UsageRecord.completion_tokens)
    return await usage_rows(app, engine, request_id, UsageRecord.model_used, *columns)


async def test_a_built_in_answer_its_passages_do_not_support_is_replaced_by_quoting_them(
    stand_in: FastAPI,
    engine: AsyncEngine,
    kettle: Persona,
    user_key: str,
    openai_fake: FakeUpstream,
    request_id: str,
) -> None:
    openai_fake.reply.chunks = ["The heating element", " is covered for ten years [1]."]
    async with api_client(stand_in, user_key) as client:
        response = await client.post(
            "/api/chat",
            json={"agent_id": "kettle-helper", "question": WARRANTY},
            headers={"X-Request-ID": request_id},
        )
        events, _ = await stream(client, WARRANTY)
    body = response.json()

    assert body["answer"].startswith(LEAD_INS[ExtractiveReason.ungrounded])
    assert "five years" in body["answer"]
    assert "ten years" not in body["answer"]
    assert (body["model_used"], body["extractive_reason"], body["grounded"]) == (
        "extractive",
        "ungrounded",
        True,
    )
    assert await usage(stand_in, engine, request_id) == [(BUILT_IN, False, 1, 5)], "what the model wrote"

    assert [name for name, _ in events] == ["meta", "token", "done"]
    assert events[1][1]["text"] == body["answer"], "no word of the replaced answer was sent"
    assert (events[2][1]["model_used"], events[2][1]["extractive_reason"]) == ("extractive", "ungrounded")


async def test_a_built_in_answer_its_passages_support_stands_and_streams_once_checked(
    stand_in: FastAPI, kettle: Persona, user_key: str, openai_fake: FakeUpstream
) -> None:
    openai_fake.reply.chunks = ["The heating element", " is covered for five years [1]."]
    async with api_client(stand_in, user_key) as client:
        body = (
            await client.post("/api/chat", json={"agent_id": "kettle-helper", "question": WARRANTY})
        ).json()
        events, _ = await stream(client, WARRANTY)

    assert body["answer"] == "The heating element is covered for five years [1]."
    assert (body["model_used"], body["grounded"], body["extractive_reason"]) == (BUILT_IN, True, None)
    assert [name for name, _ in events] == ["meta", "token", "done"], "held back, then sent whole"
    assert events[1][1]["text"] == body["answer"]


async def test_the_real_built_in_model_is_capped_and_its_answer_checked_or_replaced(
    local_settings: Settings,
    engine: AsyncEngine,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    kettle: Persona,
    user_key: str,
    request_id: str,
) -> None:
    application = create_app(local_settings, engine=engine)
    async with LifespanManager(application):
        swap_context(application, sessionmaker=test_sessionmaker)
        async with api_client(application, user_key) as client:
            response = await client.post(
                "/api/chat",
                json={"agent_id": "kettle-helper", "question": WARRANTY},
                headers={"X-Request-ID": request_id},
                timeout=300,
            )
        [(model_used, grounded, _, completion_tokens)] = await usage(application, engine, request_id)
    body = response.json()

    assert model_used == BUILT_IN
    assert isinstance(completion_tokens, int)
    assert 0 < completion_tokens <= CAP, "the persona asks 200 tokens; LOCAL_MAX_TOKENS caps it"
    assert grounded is not None, "its answer was checked"
    if grounded:
        assert (body["model_used"], body["grounded"]) == (BUILT_IN, True)
    else:
        assert (body["model_used"], body["extractive_reason"]) == ("extractive", "ungrounded")
        assert "five years" in body["answer"]


async def test_a_built_in_stream_cut_before_any_of_it_was_shown_gives_the_quotes(
    stand_in: FastAPI, kettle: Persona, user_key: str, openai_fake: FakeUpstream
) -> None:
    openai_fake.reply.chunks = ["The heating", " element", " is covered", " for five years [1]."]
    openai_fake.set_fault(Fault(kind="cut", cut_after=2))
    async with api_client(stand_in, user_key) as client:
        events, _ = await stream(client, WARRANTY)

    assert [name for name, _ in events] == ["meta", "token", "done"], "no error: nothing was shown yet"
    assert events[1][1]["text"].startswith(LEAD_INS[ExtractiveReason.models_failed])
    assert (events[2][1]["model_used"], events[2][1]["extractive_reason"]) == ("extractive", "models_failed")
