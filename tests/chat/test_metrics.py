"""What answering moves in the metrics: answers, abstentions, ungrounded answers, sessions, searches,
and the router's attempts, tokens, cost, failovers and breakers, with OpenAI and Anthropic as fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.chat.tasks import delete_expired_sessions
from purpose_agent.kit.clock import system_clock
from purpose_agent.personas.models import Persona
from tests.chat.conftest import AppFactory
from tests.chat.test_chat import WARRANTY, ask
from tests.chat.test_grounding import WRONG_ANSWER
from tests.chat.test_stream import stream
from tests.llm.fake_upstream import FakeUpstream, Fault
from tests.metrics import moved, recorded, scrape

AGENT = "kettle-helper"
GPT = {"provider": "openai", "model": "openai/gpt-4o"}
CLAUDE = {"provider": "anthropic", "model": "anthropic/claude-test"}
# The fake reports 11 prompt and 5 completion tokens; gpt-4o costs $2.50 and $10 per million.
ANSWER_COST = (11 * 2.50 + 5 * 10.00) / 1_000_000


async def test_answers_move_the_answer_token_cost_attempt_search_and_session_metrics(
    user_client: AsyncClient, kettle: Persona
) -> None:
    before = await scrape(user_client)
    first = await ask(user_client, WARRANTY)
    await ask(user_client, "And what do I need to claim it?", session_id=first["session_id"])
    question = {"model": AGENT, "messages": [{"role": "user", "content": WARRANTY}]}
    assert (await user_client.post("/v1/chat/completions", json=question)).status_code == 200
    after = await scrape(user_client)

    assert (
        moved(before, after, "purpose_agent_chat_answers_total", agent=AGENT, model_used="openai/gpt-4o") == 3
    )
    assert moved(before, after, "purpose_agent_chat_abstentions_total", agent=AGENT) == 0
    assert moved(before, after, "purpose_agent_chat_ungrounded_answers_total", agent=AGENT) == 0
    assert moved(before, after, "purpose_agent_chat_sessions_created_total") == 1, "one session, continued"
    assert moved(before, after, "purpose_agent_llm_requests_total", **GPT, outcome="success") == 3
    assert moved(before, after, "purpose_agent_llm_request_duration_seconds_count", **GPT) == 3
    assert moved(before, after, "purpose_agent_llm_tokens_total", **GPT, kind="prompt") == 33
    assert moved(before, after, "purpose_agent_llm_tokens_total", **GPT, kind="completion") == 15
    assert moved(before, after, "purpose_agent_llm_cost_usd_total", **GPT) == pytest.approx(3 * ANSWER_COST)
    assert moved(before, after, "purpose_agent_search_duration_seconds_count", mode="hybrid") == 3
    assert moved(before, after, "purpose_agent_search_passages_returned_count", mode="hybrid") == 3
    assert moved(before, after, "purpose_agent_search_passages_returned_sum", mode="hybrid") >= 3
    assert moved(before, after, "purpose_agent_llm_failovers_total") == 0
    requests = "purpose_agent_http_requests_total"
    assert moved(before, after, requests, route="/api/chat", method="POST", status="200") == 2
    assert moved(before, after, requests, route="/v1/chat/completions", method="POST", status="200") == 1


async def test_a_streamed_answer_times_its_first_token(user_client: AsyncClient, kettle: Persona) -> None:
    before = await scrape(user_client)
    events, _ = await stream(user_client, WARRANTY)
    assert events[-1][0] == "done"
    after = await scrape(user_client)
    assert moved(before, after, "purpose_agent_llm_time_to_first_token_seconds_count", **GPT) == 1
    assert moved(before, after, "purpose_agent_chat_answers_total", agent=AGENT) == 1


async def test_a_stream_cut_after_its_first_token_is_a_cut_attempt(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    openai_fake.reply.chunks = ["The heating", " element", " is", " covered."]
    openai_fake.set_fault(Fault(kind="cut", cut_after=3))
    before = await scrape(user_client)
    events, _ = await stream(user_client, WARRANTY)
    assert events[-1][0] == "error"
    after = await scrape(user_client)
    assert moved(before, after, "purpose_agent_llm_requests_total", **GPT, outcome="cut") == 1
    assert moved(before, after, "purpose_agent_chat_answers_total", agent=AGENT) == 0


@pytest.mark.parametrize(
    ("status", "outcome", "reason"),
    [(500, "error", "server_error"), (429, "rate_limited", "rate_limited"), (401, "error", "auth")],
)
async def test_a_failing_provider_counts_a_failover_with_its_reason(
    user_client: AsyncClient,
    kettle: Persona,
    openai_fake: FakeUpstream,
    status: int,
    outcome: str,
    reason: str,
) -> None:
    openai_fake.set_fault(Fault(kind="status", status=status))
    before = await scrape(user_client)
    assert (await ask(user_client, WARRANTY))["model_used"] == "anthropic/claude-test"
    after = await scrape(user_client)
    assert moved(before, after, "purpose_agent_llm_requests_total", **GPT, outcome=outcome) == 1
    assert moved(before, after, "purpose_agent_llm_failovers_total", provider="openai", reason=reason) == 1
    assert moved(before, after, "purpose_agent_llm_failovers_total") == 1
    assert moved(before, after, "purpose_agent_llm_requests_total", **CLAUDE, outcome="success") == 1
    assert moved(before, after, "purpose_agent_llm_all_providers_failed_total") == 0
    # Anthropic has no price: its answers add no cost.
    assert moved(before, after, "purpose_agent_llm_cost_usd_total", **CLAUDE) == 0
    model_used = "anthropic/claude-test"
    assert moved(before, after, "purpose_agent_chat_answers_total", agent=AGENT, model_used=model_used) == 1


async def test_every_provider_failing_is_counted_once_and_the_quotes_answer(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    for fake in (openai_fake, anthropic_fake):
        fake.set_fault(Fault(kind="status", status=503))
    before = await scrape(user_client)
    assert (await ask(user_client, WARRANTY))["model_used"] == "extractive"
    after = await scrape(user_client)
    assert moved(before, after, "purpose_agent_llm_all_providers_failed_total") == 1
    # The chain moved on from OpenAI; after Anthropic there was nothing left to move to.
    assert moved(before, after, "purpose_agent_llm_failovers_total", provider="openai") == 1
    assert moved(before, after, "purpose_agent_llm_failovers_total", provider="anthropic") == 0
    assert moved(before, after, "purpose_agent_chat_answers_total", agent=AGENT, model_used="extractive") == 1


async def test_an_open_breaker_is_reported_and_its_provider_skipped(
    app_with: AppFactory, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    async with app_with(llm_breaker_failure_threshold=1) as client:
        openai_fake.set_fault(Fault(kind="status", status=500, times=1))
        await ask(client, WARRANTY)  # OpenAI fails once: its breaker opens
        before = await scrape(client)
        assert before.value("purpose_agent_llm_breaker_state", provider="openai") == 2
        assert before.value("purpose_agent_llm_breaker_state", provider="anthropic") == 0
        assert (await ask(client, WARRANTY))["model_used"] == "anthropic/claude-test"
        after = await scrape(client)
    assert moved(before, after, "purpose_agent_llm_requests_total", **GPT, outcome="breaker_open") == 1
    assert (
        moved(before, after, "purpose_agent_llm_failovers_total", provider="openai", reason="breaker_open")
        == 1
    )


async def test_an_abstention_is_an_answer_of_none_and_asks_no_model(
    user_client: AsyncClient, kettle: Persona
) -> None:
    before = await scrape(user_client)
    assert (await ask(user_client, "Who painted the ceiling of the Sistine Chapel?"))["abstained"] is True
    after = await scrape(user_client)
    assert moved(before, after, "purpose_agent_chat_abstentions_total", agent=AGENT) == 1
    assert moved(before, after, "purpose_agent_chat_answers_total", agent=AGENT, model_used="none") == 1
    assert moved(before, after, "purpose_agent_llm_requests_total") == 0


async def test_an_answer_its_passages_do_not_support_is_counted_ungrounded(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    openai_fake.reply.chunks = WRONG_ANSWER
    before = await scrape(user_client)
    assert (await ask(user_client, WARRANTY))["grounded"] is False
    after = await scrape(user_client)
    ungrounded = "purpose_agent_chat_ungrounded_answers_total"
    assert moved(before, after, ungrounded, agent=AGENT, model_used="openai/gpt-4o") == 1


async def test_deleting_expired_sessions_counts_them(
    user_client: AsyncClient, kettle: Persona, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await ask(user_client, WARRANTY)
    await ask(user_client, WARRANTY)
    before = recorded("purpose_agent_chat_sessions_expired_total")
    assert await delete_expired_sessions(test_sessionmaker, system_clock() + timedelta(days=30), 1) == 2
    assert recorded("purpose_agent_chat_sessions_expired_total") - before == 2
