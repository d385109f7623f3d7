"""The groundedness check: on its own with the real embedder, then on providers' answers as every
surface reports it, in the usage records and in the logs."""

from __future__ import annotations

import json

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from purpose_agent.chat.grounding import check_answer
from purpose_agent.chat.passages import Passage
from purpose_agent.knowledge.embeddings.local import LocalEmbedder
from purpose_agent.llm.models import UsageRecord
from purpose_agent.llm.types import Grounding
from purpose_agent.personas.models import Persona
from tests.chat.conftest import usage_rows
from tests.chat.test_chat import WARRANTY
from tests.chat.test_extractive import NOT_FOUND, TOO_LARGE, BrokenEmbedder
from tests.chat.test_stream import stream
from tests.conftest import LogCapture
from tests.llm.fake_upstream import FakeUpstream

PASSAGES = [TOO_LARGE, NOT_FOUND]
JSON_ENCODER = (
    "A 413 error is a JSON error that occurs when a JSON object is not properly formatted, "
    "as defined by the JSONEncoder."
)
WRONG_ANSWER = [
    "The heating element is covered for ten years [1].",
    " Descaling voids it, says the JSONEncoder [1].",
]
UNSUPPORTED = ["The heating element is covered for ten years.", "Descaling voids it, says the JSONEncoder."]


async def test_a_faithful_paraphrase_is_grounded(embedder: LocalEmbedder) -> None:
    answer = (
        "A 413 means your request body was too large for the service, so it was refused before being "
        "processed [1]. Chat questions and searches may be at most 1 MB by default [1]."
    )
    assert await check_answer(answer, PASSAGES, embedder) == Grounding(grounded=True)


async def test_the_built_in_model_s_json_encoder_answer_is_ungrounded(embedder: LocalEmbedder) -> None:
    answer = f"{JSON_ENCODER} To fix it, shorten the question [1]."
    assert await check_answer(answer, PASSAGES, embedder) == Grounding(False, (JSON_ENCODER,))


async def test_an_invented_endpoint_or_a_wrong_limit_is_unsupported(embedder: LocalEmbedder) -> None:
    answer = "Send a request to /api/requests/shrink to raise it [1]. Chat questions may be at most 8 MB [1]."
    found = await check_answer(answer, PASSAGES, embedder)
    assert found == Grounding(
        False, ("Send a request to /api/requests/shrink to raise it.", "Chat questions may be at most 8 MB.")
    )


async def test_courtesy_questions_and_what_the_passages_lack_are_not_claims(embedder: LocalEmbedder) -> None:
    answer = (
        "Sorry about that! Would you like more detail? The passages do not say who can raise the limit. "
        "A 413 means the request was refused because its body was larger than the service accepts [1]. "
        "I hope this helps."
    )
    assert await check_answer(answer, PASSAGES, embedder) == Grounding(grounded=True)


async def test_without_passages_or_an_embedder_nothing_is_checked(embedder: LocalEmbedder) -> None:
    assert await check_answer(JSON_ENCODER, [], embedder) == Grounding()
    assert await check_answer(JSON_ENCODER, PASSAGES, BrokenEmbedder()) == Grounding()
    unchecked = Passage(1, "Refunds are accepted within 30 days.", "policy.md")
    assert await check_answer("", [unchecked], embedder) == Grounding(grounded=True), (
        "no claim, none unsupported"
    )


async def usage_grounding(app: FastAPI, engine: AsyncEngine, request_id: str) -> list[tuple[object, ...]]:
    columns = (UsageRecord.model_used, UsageRecord.grounded, UsageRecord.unsupported_sentences)
    return await usage_rows(app, engine, request_id, *columns)


async def test_an_answer_that_contradicts_its_passages_is_reported_ungrounded_everywhere(
    app: FastAPI,
    engine: AsyncEngine,
    user_client: AsyncClient,
    kettle: Persona,
    openai_fake: FakeUpstream,
    logs: LogCapture,
    request_id: str,
) -> None:
    openai_fake.reply.chunks = WRONG_ANSWER
    response = await user_client.post(
        "/api/chat",
        json={"agent_id": "kettle-helper", "question": WARRANTY},
        headers={"X-Request-ID": request_id},
    )
    body = response.json()
    assert (body["answer"], body["model_used"]) == ("".join(WRONG_ANSWER), "openai/gpt-4o"), (
        "a remote answer stands"
    )
    assert (body["grounded"], body["unsupported"], body["extractive_reason"]) == (False, UNSUPPORTED, None)
    assert await usage_grounding(app, engine, request_id) == [("openai/gpt-4o", False, 2)]
    [route] = [record for record in logs.records() if record["event"] == "llm_route"]
    assert (route["grounded"], route["unsupported"]) == (False, UNSUPPORTED)

    events, _ = await stream(user_client, WARRANTY)
    assert [data["text"] for name, data in events if name == "token"] == WRONG_ANSWER, "streamed as written"
    assert (events[-1][1]["grounded"], events[-1][1]["unsupported"]) == (False, UNSUPPORTED)

    question = {"model": "kettle-helper", "messages": [{"role": "user", "content": WARRANTY}]}
    whole = (await user_client.post("/v1/chat/completions", json=question)).json()
    assert (whole["grounded"], whole["unsupported"]) == (False, UNSUPPORTED)
    streamed = await user_client.post("/v1/chat/completions", json=question | {"stream": True})
    last = json.loads([line for line in streamed.text.splitlines() if line.startswith("data: {")][-1][6:])
    assert (last["grounded"], last["unsupported"]) == (False, UNSUPPORTED)


async def test_a_faithful_answer_is_reported_grounded_and_recorded_so(
    app: FastAPI, engine: AsyncEngine, user_client: AsyncClient, kettle: Persona, request_id: str
) -> None:
    response = await user_client.post(
        "/api/chat",
        json={"agent_id": "kettle-helper", "question": WARRANTY},
        headers={"X-Request-ID": request_id},
    )
    body = response.json()
    assert body["answer"] == "The heating element is covered for five years [1]."
    assert (body["grounded"], body["unsupported"]) == (True, [])
    assert await usage_grounding(app, engine, request_id) == [("openai/gpt-4o", True, 0)]

    events, _ = await stream(user_client, WARRANTY)
    assert (events[-1][1]["grounded"], events[-1][1]["unsupported"]) == (True, [])


async def test_an_answer_with_no_passages_to_check_against_is_not_checked(
    app: FastAPI, engine: AsyncEngine, client: AsyncClient, user_client: AsyncClient, request_id: str
) -> None:
    created = await client.post(
        "/api/personas", json={"id": "plain-helper", "name": "Plain", "retrieval": False}
    )
    assert created.status_code == 201
    response = await user_client.post(
        "/api/chat",
        json={"agent_id": "plain-helper", "question": "Hello?"},
        headers={"X-Request-ID": request_id},
    )
    assert (response.json()["grounded"], response.json()["unsupported"]) == (None, [])
    assert await usage_grounding(app, engine, request_id) == [("openai/gpt-4o", None, None)]
