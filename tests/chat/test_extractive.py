"""Quoting the passages: the sentences that answer the question, chosen with the real embedder; and the
last tier, with every model down, quoting them and recording one such route."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from purpose_agent.chat.extractive import (
    LEAD_INS,
    MAX_QUOTE_CHARS,
    ExtractionPolicy,
    ExtractiveReason,
    choose_quotes,
    compose,
    extractive_answer,
)
from purpose_agent.chat.passages import Passage
from purpose_agent.chat.sentences import answer_sentences, passage_sentences
from purpose_agent.knowledge.embeddings.base import EmbeddingError
from purpose_agent.knowledge.embeddings.local import LocalEmbedder
from purpose_agent.llm.models import FailoverEvent, UsageRecord
from purpose_agent.personas.models import Persona
from tests.chat.conftest import usage_rows
from tests.chat.test_chat import WARRANTY
from tests.chat.test_stream import stream
from tests.llm.fake_upstream import FakeUpstream, Fault

TOO_LARGE = Passage(
    1,
    "413 Body or document too large\n\n"
    "A 413 means the body of your request was larger than the service accepts, and the request was "
    "refused before it was processed. The detail states the limit in bytes. Ordinary API requests, "
    "such as chat questions and searches, may be at most 1 MB (1,048,576 bytes) by default.\n\n"
    "To fix it, send less: shorten the question or split the file into smaller documents.",
    "errors-and-troubleshooting.md",
    heading="Errors and troubleshooting > 413 Body or document too large",
)
NOT_FOUND = Passage(
    2,
    "404 Not Found\n\nA 404 means there is nothing at the path you called, or nothing with the id you "
    "gave. A deleted document or session also answers 404.",
    "errors-and-troubleshooting.md",
    heading="Errors and troubleshooting > 404 Not Found",
)


class BrokenEmbedder(LocalEmbedder):
    """An embedder whose model cannot be reached, as a remote one's may not be."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise EmbeddingError("the embedding service is down")


async def test_the_sentence_that_answers_is_quoted_first_with_the_one_after_it_and_its_mark(
    embedder: LocalEmbedder,
) -> None:
    quotes = await choose_quotes("What does a 413 error mean?", [NOT_FOUND, TOO_LARGE], embedder)
    text = compose(quotes, ExtractiveReason.default)

    assert quotes[0].text.startswith("A 413 means the body of your request was larger")
    first = text.split("\n\n")[1]
    assert first == (
        '"A 413 means the body of your request was larger than the service accepts, and the request was '
        'refused before it was processed. The detail states the limit in bytes." [1]'
    )
    assert text.startswith(LEAD_INS[ExtractiveReason.default])
    assert "413 Body or document too large" not in text, "a heading is not a sentence to quote"


async def test_a_sentence_in_two_overlapping_passages_is_quoted_once_and_quotes_are_bounded(
    embedder: LocalEmbedder,
) -> None:
    overlap = Passage(3, TOO_LARGE.text.split("\n\n", 1)[1], "errors-and-troubleshooting.md")
    long_row = Passage(4, "| status | meaning |\n| 413 | " + "too large " * 80 + "|", "table.md")
    quotes = await choose_quotes("What does a 413 error mean?", [TOO_LARGE, overlap, long_row], embedder)
    text = compose(quotes, ExtractiveReason.default)

    assert text.count("A 413 means the body of your request") == 1
    assert len(quotes) <= ExtractionPolicy().max_sentences
    assert all(len(piece) <= MAX_QUOTE_CHARS + 2 for piece in text.split('"')), "each quote is cut"


async def test_a_follow_up_quotes_what_it_asks_in_the_section_of_the_question_it_follows(
    embedder: LocalEmbedder,
) -> None:
    text = NOT_FOUND.text + "\n\nTo fix it, check the id in GET /api/documents."
    missing = Passage(1, text, NOT_FOUND.source, heading=NOT_FOUND.heading)
    fix = "To fix it, send less: shorten the question or split the file into smaller documents."

    followed = await choose_quotes(
        "How do I fix it?", [missing, TOO_LARGE], embedder, follows="What does a 413 error mean?"
    )
    alone = await choose_quotes("How do I fix it?", [missing, TOO_LARGE], embedder)

    assert followed[0].text == fix, "the fix under the 413 heading, not the 404's, nor the 413's meaning"
    assert alone[0].text != fix, "without the question it follows, the better-ranked passage's fix wins"


async def test_with_the_embedder_down_the_question_s_words_still_choose(embedder: LocalEmbedder) -> None:
    answer = await extractive_answer(
        "What is the limit for chat questions?",
        [NOT_FOUND, TOO_LARGE],
        BrokenEmbedder(),
        ExtractiveReason.default,
    )

    assert "Ordinary API requests, such as chat questions and searches, may be at most 1 MB" in answer.text
    assert (answer.model_used, answer.grounding.grounded) == ("extractive", True)


async def test_a_passage_with_no_sentence_to_quote_is_quoted_whole(embedder: LocalEmbedder) -> None:
    code = Passage(1, '{\n  "status": 413,\n  "title": "Payload Too Large"\n}', "example.json")
    answer = await extractive_answer("Show the 413 body", [code], embedder, ExtractiveReason.default)
    assert '"{ "status": 413, "title": "Payload Too Large" }" [1]' in answer.text


def test_a_passage_is_cut_into_sentences_list_items_and_table_rows_but_not_headings_or_code() -> None:
    text = (
        "Statuses\n\nA document moves through statuses. It ends ready or failed.\n\n"
        "- queued: waiting for a worker;\n- ready: its passages are searchable.\n\n"
        "| status | meaning |\n| 413 | Too large |\n\n"
        '{\n  "status": 413\n}'
    )
    assert passage_sentences(text, ("Statuses",)) == [
        "A document moves through statuses.",
        "It ends ready or failed.",
        "queued: waiting for a worker;",
        "ready: its passages are searchable.",
        "413 \u2014 Too large",
    ]


def test_an_answer_loses_its_markdown_and_citation_marks_when_cut_into_sentences() -> None:
    answer = (
        "## Fix\n\n1. **Shorten** the question [1].\n2. Split the `file` into parts [2][3].\n```\ncurl x\n```"
    )
    assert answer_sentences(answer) == ["Shorten the question.", "Split the file into parts."]


@pytest.fixture
def models_down(openai_fake: FakeUpstream, anthropic_fake: FakeUpstream) -> None:
    for fake in (openai_fake, anthropic_fake):
        fake.set_fault(Fault(kind="status", status=503))


async def recorded(
    app: FastAPI, engine: AsyncEngine, request_id: str
) -> tuple[list[tuple[object, ...]], ...]:
    """The usage rows and the failover rows written for one request."""
    usage = await usage_rows(
        app,
        engine,
        request_id,
        UsageRecord.model_used,
        UsageRecord.prompt_tokens,
        UsageRecord.completion_tokens,
        UsageRecord.cost_usd,
        UsageRecord.failed_attempts,
    )
    async with async_sessionmaker(engine)() as session:
        failovers = await session.execute(
            select(FailoverEvent.provider, FailoverEvent.reason, FailoverEvent.answered_by)
            .where(FailoverEvent.request_id == request_id)
            .order_by(FailoverEvent.id)
        )
        return usage, [tuple(row) for row in failovers]


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
    assert body["answer"].startswith(LEAD_INS[ExtractiveReason.models_failed])
    assert (
        '"The heating element is covered for five years. Keep the receipt to claim a repair." ['
        in (body["answer"])
    )
    assert (body["extractive_reason"], body["grounded"], body["unsupported"]) == ("models_failed", True, [])
    assert body["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}
    assert await recorded(app, engine, request_id) == EXTRACTIVE_ROUTE


async def test_a_stream_with_every_model_down_sends_the_quotes_as_one_token_then_done(
    app: FastAPI, engine: AsyncEngine, client_of_request: AsyncClient, request_id: str
) -> None:
    events, _ = await stream(client_of_request, WARRANTY)
    assert [name for name, _ in events] == ["meta", "token", "done"]
    quoted = events[1][1]["text"]
    assert quoted.startswith(LEAD_INS[ExtractiveReason.models_failed])
    assert "five years" in quoted
    done = events[2][1]
    assert (done["model_used"], done["extractive_reason"], done["grounded"]) == (
        "extractive",
        "models_failed",
        True,
    )
    assert done["citations"], "the quoted passages are cited"
    history = (await client_of_request.get(f"/api/sessions/{done['session_id']}")).json()
    assert [m["content"] for m in history["messages"]] == [WARRANTY, quoted]
    stored = history["messages"][1]["details"]
    assert (stored["model_used"], stored["extractive_reason"], stored["grounded"]) == (
        "extractive",
        "models_failed",
        True,
    )
    assert await recorded(app, engine, request_id) == EXTRACTIVE_ROUTE


async def test_an_openai_client_gets_the_quotes_when_every_model_is_down(
    user_client: AsyncClient, kettle: Persona, models_down: None
) -> None:
    question = {"model": "kettle-helper", "messages": [{"role": "user", "content": WARRANTY}]}
    whole = (await user_client.post("/v1/chat/completions", json=question)).json()
    assert whole["model_used"] == "extractive"
    assert whole["choices"][0]["message"]["content"].startswith(LEAD_INS[ExtractiveReason.models_failed])
    assert (whole["extractive_reason"], whole["grounded"]) == ("models_failed", True)

    streamed = await user_client.post("/v1/chat/completions", json=question | {"stream": True})
    chunks = [
        json.loads(line[len("data: ") :]) for line in streamed.text.splitlines() if line.startswith("data: {")
    ]
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["model_used"] == "extractive"
