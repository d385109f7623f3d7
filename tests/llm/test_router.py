"""The router with real adapters against local vendor servers: failover, retries, breakers, streams.

The fakes record every request they receive, so "never contacted" is checked by what reached them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.kit.backoff import BackoffPolicy
from purpose_agent.llm.breaker import BreakerPolicy, MemoryBreakers
from purpose_agent.llm.errors import AllProvidersFailed, FailureReason
from purpose_agent.llm.models import FailoverEvent, UsageRecord
from purpose_agent.llm.pricing import Price, PriceTable
from purpose_agent.llm.providers.anthropic import AnthropicProvider
from purpose_agent.llm.providers.base import Provider, ProviderConfig
from purpose_agent.llm.providers.openai import OpenAIProvider
from purpose_agent.llm.recorder import DatabaseRecorder, RouteRecord, RouteRecorder
from purpose_agent.llm.router import (
    Finished,
    Heartbeat,
    LLMRouter,
    RoutedAnswer,
    RouterEvent,
    RouterPolicy,
    StreamFailed,
    Token,
)
from purpose_agent.llm.types import ChatRequest, Grounding, Message, Usage
from tests.llm.fake_upstream import FakeUpstream, Fault
from tests.llm.fakes import reset
from tests.ports import refused_url

REQUEST = ChatRequest(
    messages=(Message("user", "What is the refund window?"),), temperature=0.0, max_tokens=64
)


@pytest.fixture(autouse=True)
def reset_fakes(openai_fake: FakeUpstream, anthropic_fake: FakeUpstream) -> None:
    reset(openai_fake, anthropic_fake)


def openai_at(base_url: str, key: str | None = "sk-test-openai-0001", **changes: Any) -> OpenAIProvider:
    options: dict[str, Any] = {"read_timeout": 2.0, "connect_timeout": 1.0, **changes}
    return OpenAIProvider(
        ProviderConfig(name="openai", model="gpt-4o", api_key=key, base_url=base_url, **options)
    )


def anthropic_at(base_url: str, key: str | None = "sk-ant-test-0001") -> AnthropicProvider:
    return AnthropicProvider(
        ProviderConfig(
            name="anthropic", model="claude-test", api_key=key, base_url=base_url, read_timeout=2.0
        )
    )


@pytest.fixture
async def routers() -> AsyncIterator[list[LLMRouter]]:
    """Routers built by a test; their clients are closed at its end."""
    built: list[LLMRouter] = []
    yield built
    for router in built:
        await router.aclose()


def make_router(
    built: list[LLMRouter],
    providers: list[Provider],
    *,
    threshold: int = 5,
    retries: int = 0,
    deadline: float = 20.0,
    heartbeat: float = 10.0,
    recorder: RouteRecorder | None = None,
) -> LLMRouter:
    router = LLMRouter(
        providers,
        MemoryBreakers(BreakerPolicy(failure_threshold=threshold, cooldown_seconds=60)),
        RouterPolicy(
            deadline_seconds=deadline,
            backoff=BackoffPolicy(base_seconds=0.01, cap_seconds=2.0),
            heartbeat_seconds=heartbeat,
        ),
        prices=PriceTable({"anthropic/claude-test": Price(3.0, 15.0)}),
        recorder=recorder,
        retries={provider.name: retries for provider in providers},
    )
    built.append(router)
    return router


async def collect(events: AsyncIterator[RouterEvent]) -> list[RouterEvent]:
    return [event async for event in events]


async def test_a_refused_provider_fails_over_and_leaves_a_failover_row(
    routers: list[LLMRouter], anthropic_fake: FakeUpstream, engine: AsyncEngine
) -> None:
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    recorder = DatabaseRecorder(sessionmaker)
    router = make_router(
        routers,
        [openai_at(refused_url()), anthropic_at(anthropic_fake.base_url)],
        retries=1,
        recorder=recorder,
    )
    request_id = f"failover-{uuid.uuid4().hex}"

    answer = await router.complete(REQUEST, request_id=request_id)
    await recorder.drain()

    assert answer.model_used == "anthropic/claude-test"
    assert answer.text == "Hello from the fake."
    assert [attempt.reason for attempt in answer.attempts] == [FailureReason.connect_error] * 2
    assert answer.cost_usd == pytest.approx((11 * 3.0 + 5 * 15.0) / 1_000_000)
    async with sessionmaker() as session:
        events = (
            await session.scalars(select(FailoverEvent).where(FailoverEvent.request_id == request_id))
        ).all()
        usage = (await session.scalars(select(UsageRecord).where(UsageRecord.request_id == request_id))).one()
    assert [(event.provider, event.reason, event.answered_by) for event in events] == [
        ("openai", "connect_error", "anthropic/claude-test")
    ] * 2
    assert (usage.model_used, usage.prompt_tokens, usage.completion_tokens, usage.failed_attempts) == (
        "anthropic/claude-test",
        11,
        5,
        2,
    )


async def test_once_the_breaker_opens_the_dead_provider_gets_no_request(
    routers: list[LLMRouter], openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    openai_fake.set_fault(Fault(kind="status", status=500))
    router = make_router(
        routers, [openai_at(f"{openai_fake.base_url}/v1"), anthropic_at(anthropic_fake.base_url)], threshold=2
    )
    for _ in range(2):
        assert (await router.complete(REQUEST)).model_used == "anthropic/claude-test"
    assert len(openai_fake.requests) == 2

    for _ in range(5):
        answer = await router.complete(REQUEST)
        assert answer.model_used == "anthropic/claude-test"
        assert [attempt.reason for attempt in answer.attempts] == [FailureReason.circuit_open]
    assert len(openai_fake.requests) == 2, "an open breaker sends nothing to the provider"


async def test_a_429_with_retry_after_is_retried_after_that_long_then_failed_over(
    routers: list[LLMRouter], openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    openai_fake.set_fault(Fault(kind="status", status=429, retry_after="1", times=1))
    router = make_router(
        routers, [openai_at(f"{openai_fake.base_url}/v1"), anthropic_at(anthropic_fake.base_url)], retries=2
    )
    answer = await router.complete(REQUEST)
    assert answer.model_used == "openai/gpt-4o", "the retry succeeded at the same provider"
    first, second = openai_fake.requests
    assert 0.95 <= second.at - first.at <= 2.0

    openai_fake.requests.clear()
    openai_fake.set_fault(Fault(kind="status", status=429, retry_after="1"))
    started = time.monotonic()
    answer = await router.complete(REQUEST)
    assert answer.model_used == "anthropic/claude-test"
    assert len(openai_fake.requests) == 3
    assert [attempt.reason for attempt in answer.attempts] == [FailureReason.rate_limited] * 3
    assert time.monotonic() - started >= 1.9


async def test_rejected_credentials_fail_over_at_once_and_open_the_breaker(
    routers: list[LLMRouter], openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    openai_fake.set_fault(Fault(kind="status", status=401))
    router = make_router(
        routers, [openai_at(f"{openai_fake.base_url}/v1"), anthropic_at(anthropic_fake.base_url)], retries=3
    )
    answer = await router.complete(REQUEST)
    assert answer.model_used == "anthropic/claude-test"
    assert [attempt.reason for attempt in answer.attempts] == [FailureReason.credentials_rejected]
    await router.complete(REQUEST)
    assert len(openai_fake.requests) == 1, "not retried, and skipped once its breaker opened"


async def test_a_provider_without_credentials_is_never_contacted(
    routers: list[LLMRouter], openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    router = make_router(
        routers, [openai_at(f"{openai_fake.base_url}/v1", key=None), anthropic_at(anthropic_fake.base_url)]
    )
    assert router.unconfigured() == ["openai"]
    assert (await router.complete(REQUEST)).model_used == "anthropic/claude-test"
    await collect(router.stream(REQUEST))
    assert openai_fake.requests == []
    assert (await router.status())["openai"]["configured"] is False


async def test_temperature_zero_reaches_the_provider_as_zero(
    routers: list[LLMRouter], openai_fake: FakeUpstream
) -> None:
    router = make_router(routers, [openai_at(f"{openai_fake.base_url}/v1")])
    await router.complete(REQUEST)
    await collect(router.stream(REQUEST))
    assert [request.body["temperature"] for request in openai_fake.requests] == [0, 0]


async def test_every_provider_down_lists_each_attempt(routers: list[LLMRouter]) -> None:
    router = make_router(routers, [openai_at(refused_url()), anthropic_at(refused_url())])
    with pytest.raises(AllProvidersFailed) as caught:
        await router.complete(REQUEST)
    assert [(a.provider, a.reason) for a in caught.value.attempts] == [
        ("openai", FailureReason.connect_error),
        ("anthropic", FailureReason.connect_error),
    ]


async def test_a_stream_that_dies_before_its_first_token_is_answered_by_the_next(
    routers: list[LLMRouter], openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    openai_fake.set_fault(Fault(kind="cut", cut_after=0))
    router = make_router(
        routers, [openai_at(f"{openai_fake.base_url}/v1"), anthropic_at(anthropic_fake.base_url)]
    )
    events = await collect(router.stream(REQUEST))
    tokens = [event.text for event in events if isinstance(event, Token)]
    assert "".join(tokens) == "Hello from the fake."
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.answer.model_used == "anthropic/claude-test"
    assert finished.answer.usage.completion_tokens == 5
    assert [attempt.provider for attempt in finished.answer.attempts] == ["openai"]


async def test_a_stream_that_dies_after_its_first_token_ends_with_a_typed_error(
    routers: list[LLMRouter], openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    openai_fake.set_fault(Fault(kind="cut", cut_after=3))
    router = make_router(
        routers, [openai_at(f"{openai_fake.base_url}/v1"), anthropic_at(anthropic_fake.base_url)]
    )
    events = await collect(router.stream(REQUEST))
    assert any(isinstance(event, Token) for event in events)
    failure = events[-1]
    assert isinstance(failure, StreamFailed)
    assert failure.reason in {FailureReason.stream_interrupted, FailureReason.connect_error}
    assert anthropic_fake.requests == [], "after the first token the answer cannot move to another provider"


async def test_heartbeats_flow_while_the_first_token_is_slow(
    routers: list[LLMRouter], anthropic_fake: FakeUpstream
) -> None:
    anthropic_fake.reply.first_chunk_delay = 0.6
    router = make_router(routers, [anthropic_at(anthropic_fake.base_url)], heartbeat=0.1)
    events = await collect(router.stream(REQUEST))
    first_token = next(i for i, event in enumerate(events) if isinstance(event, Token))
    assert sum(isinstance(event, Heartbeat) for event in events[:first_token]) >= 3
    assert not any(isinstance(event, Heartbeat) for event in events[first_token:])
    assert isinstance(events[-1], Finished)


async def test_a_stream_with_every_provider_down_ends_with_one_typed_error(
    routers: list[LLMRouter],
) -> None:
    router = make_router(routers, [openai_at(refused_url())])
    events = await collect(router.stream(REQUEST))
    assert len(events) == 1
    assert isinstance(events[0], StreamFailed)
    assert events[0].attempts[0].reason is FailureReason.connect_error


async def test_the_deadline_bounds_a_hanging_provider(
    routers: list[LLMRouter], openai_fake: FakeUpstream
) -> None:
    openai_fake.set_fault(Fault(kind="hang", hang_seconds=5))
    router = make_router(
        routers, [openai_at(f"{openai_fake.base_url}/v1", read_timeout=10.0)], deadline=0.5, retries=3
    )
    started = time.monotonic()
    with pytest.raises(AllProvidersFailed) as caught:
        await router.complete(REQUEST)
    assert time.monotonic() - started < 1.5
    assert caught.value.attempts[-1].reason is FailureReason.deadline_exceeded


async def test_usage_rows_survive_a_request_that_failed(
    routers: list[LLMRouter], engine: AsyncEngine
) -> None:
    sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)
    recorder = DatabaseRecorder(sessionmaker)
    router = make_router(routers, [openai_at(refused_url())], recorder=recorder)
    request_id = f"failed-{uuid.uuid4().hex}"
    with pytest.raises(AllProvidersFailed):
        await router.complete(REQUEST, request_id=request_id)
    await recorder.drain()
    async with sessionmaker() as session:
        events = (
            await session.scalars(select(FailoverEvent).where(FailoverEvent.request_id == request_id))
        ).all()
    assert [(event.provider, event.answered_by) for event in events] == [("openai", None)]


class SubmittedRecords(list[RouteRecord]):
    """A `RouteRecorder` that keeps what it is given."""

    def submit(self, record: RouteRecord) -> None:
        self.append(record)


async def test_a_failure_the_caller_answers_itself_is_recorded_once_with_that_answer(
    routers: list[LLMRouter],
) -> None:
    records = SubmittedRecords()
    router = make_router(routers, [openai_at(refused_url())], recorder=records)
    started = time.monotonic()
    with pytest.raises(AllProvidersFailed) as caught:
        await router.complete(REQUEST, request_id="answered-by-caller", has_fallback=True)
    events = await collect(router.stream(REQUEST, request_id="answered-by-caller", has_fallback=True))
    assert isinstance(events[-1], StreamFailed)
    assert records == [], "the caller records its own answer in the failure's place"

    attempts = tuple(caught.value.attempts)
    router.record_fallback(
        "answered-by-caller", RoutedAnswer("Quoted.", Usage(), "quotes", attempts, 0.0), started
    )
    [record] = records
    assert (record.request_id, record.model_used, record.attempts, record.cost_usd) == (
        "answered-by-caller",
        "quotes",
        attempts,
        0.0,
    )


async def test_the_caller_s_check_of_an_answer_is_in_the_answer_and_in_its_route_s_record(
    routers: list[LLMRouter], openai_fake: FakeUpstream, anthropic_fake: FakeUpstream
) -> None:
    records = SubmittedRecords()
    router = make_router(routers, [openai_at(f"{openai_fake.base_url}/v1")], recorder=records)
    checked: list[str] = []

    async def check(text: str) -> Grounding:
        checked.append(text)
        return Grounding(False, (text,))

    whole = await router.complete(REQUEST, request_id="checked", check=check)
    events = await collect(router.stream(REQUEST, request_id="checked", check=check))
    finished = events[-1]
    assert isinstance(finished, Finished)

    written = "".join(openai_fake.reply.chunks)
    assert checked == [written, written]
    assert whole.grounding == finished.answer.grounding == Grounding(False, (written,))
    assert [record.grounding for record in records] == [Grounding(False, (written,))] * 2
    assert {event.provider for event in events if isinstance(event, Token)} == {"openai"}


async def test_records_queue_and_are_written_together_and_past_the_bound_they_are_counted_not_kept(
    engine: AsyncEngine,
) -> None:
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    recorder = DatabaseRecorder(sessionmaker, max_queued=3)
    prefix = f"batch-{uuid.uuid4().hex[:8]}-"
    for number in range(5):
        recorder.submit(RouteRecord(f"{prefix}{number}", (), "openai/gpt-4o", Usage(3, 2), 0.0, 1.0))
    await recorder.aclose()
    async with sessionmaker() as session, session.begin():
        written = (
            await session.scalars(
                select(UsageRecord.request_id).where(UsageRecord.request_id.startswith(prefix))
            )
        ).all()
        await session.execute(delete(UsageRecord).where(UsageRecord.request_id.startswith(prefix)))
    assert sorted(written) == [f"{prefix}{number}" for number in range(3)]
    assert recorder.dropped == 2
