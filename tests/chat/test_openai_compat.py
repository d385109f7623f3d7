"""The OpenAI-compatible endpoint through the official `openai` client, against the running app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from fastapi import FastAPI

from purpose_agent.personas.models import Persona
from tests.chat.test_chat import WARRANTY
from tests.llm.fake_upstream import FakeUpstream, Fault


@pytest.fixture
async def agent_client(app: FastAPI, user_key: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official client, as an application would configure it, its transport into the app."""
    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    client = openai.AsyncOpenAI(
        base_url="http://testserver/v1", api_key=user_key, http_client=http_client, max_retries=0
    )
    yield client
    await client.close()


async def test_personas_are_listed_as_models(agent_client: openai.AsyncOpenAI, kettle: Persona) -> None:
    models = await agent_client.models.list()
    assert [model.id for model in models.data] == ["kettle-helper"]


async def test_a_completion_answers_from_the_persona_s_knowledge_with_citations(
    agent_client: openai.AsyncOpenAI, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    completion = await agent_client.chat.completions.create(
        model="kettle-helper",
        messages=[
            {"role": "system", "content": "Reply in one sentence."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! Ask me about the kettle."},
            {"role": "user", "content": WARRANTY},
        ],
        temperature=0,
    )
    assert completion.choices[0].message.content == "The heating element is covered for five years [1]."
    assert completion.model == "kettle-helper"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 16
    extra: dict[str, Any] = completion.model_extra or {}
    assert extra["model_used"] == "openai/gpt-4o"
    assert extra["citations"][0]["page"] == 3

    sent = openai_fake.requests[0].body["messages"]
    assert "Reply in one sentence." in sent[0]["content"]
    assert sent[1:] == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! Ask me about the kettle."},
        {"role": "user", "content": WARRANTY},
    ]


async def test_a_streamed_completion_fails_over_before_its_first_token(
    agent_client: openai.AsyncOpenAI, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    openai_fake.set_fault(Fault(kind="status", status=500))
    stream = await agent_client.chat.completions.create(
        model="kettle-helper", messages=[{"role": "user", "content": WARRANTY}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "The heating element is covered for five years [1]."
    last: dict[str, Any] = chunks[-1].model_extra or {}
    assert last["model_used"] == "anthropic/claude-test"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_out_of_range_parameters_are_refused_before_any_provider_is_called(
    agent_client: openai.AsyncOpenAI, kettle: Persona, openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    for parameters in ({"temperature": 2.5}, {"max_tokens": 0}, {"max_tokens": 40_000}):
        with pytest.raises(openai.UnprocessableEntityError):
            await agent_client.chat.completions.create(
                model="kettle-helper", messages=[{"role": "user", "content": WARRANTY}], **parameters
            )
    assert openai_fake.requests == []
    assert anthropic_fake.requests == []
    with pytest.raises(openai.NotFoundError):
        await agent_client.chat.completions.create(
            model="no-such-agent", messages=[{"role": "user", "content": WARRANTY}]
        )
    with pytest.raises(openai.UnprocessableEntityError):
        await agent_client.chat.completions.create(
            model="kettle-helper", messages=[{"role": "assistant", "content": "I ask nothing"}]
        )


async def test_a_bad_key_is_refused(app: FastAPI, kettle: Persona) -> None:
    client = openai.AsyncOpenAI(
        base_url="http://testserver/v1",
        api_key="pa_not-a-real-key",
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)),
        max_retries=0,
    )
    with pytest.raises(openai.AuthenticationError):
        await client.models.list()
    await client.close()
