"""`OpenAIProvider` against a local server speaking OpenAI's wire format, healthy and faulty."""

from __future__ import annotations

import pytest

from purpose_agent.llm.errors import FailureReason
from purpose_agent.llm.providers.openai import OpenAIProvider
from purpose_agent.llm.types import ChatRequest, Message
from tests.llm.fake_openai import OpenAIWire
from tests.llm.fake_upstream import FakeUpstream, RecordedRequest, Reply
from tests.llm.provider_checks import (
    PROMPT,
    STATUS_FIELDS,
    STATUSES,
    Vendor,
    check_error_status,
    check_malformed_body,
    check_only_a_provider_with_a_key_is_configured,
    check_refused_connection,
    check_request_model_overrides,
    check_silence_past_the_read_timeout,
    check_stream_cut_mid_way,
    check_stream_that_stops_early,
    collect,
    healthy_fake,
    one_provider,
    serve,
)

KEY = "sk-test-7f3a9c1e5b"
REQUEST = ChatRequest(
    messages=(Message("system", "Answer from the cookbook."), Message("user", PROMPT)),
    temperature=0.0,
    max_tokens=64,
)
OPENAI = Vendor(
    OpenAIProvider, name="openai", model="gpt-test", key=KEY, request=REQUEST, path="/v1", secrets=(PROMPT,)
)


class _StopsEarlyWire(OpenAIWire):
    """Streams the role chunk and two text chunks, then `tail` instead of the rest of the stream."""

    def __init__(self, tail: bytes) -> None:
        super().__init__()
        self.tail = tail

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        return [*super().stream_chunks(request, reply)[:3], self.tail]


# Error bodies echo the key and the prompt, as vendors' messages do: neither may reach our errors.
upstream = serve(lambda: OpenAIWire(echo=f"{KEY} {PROMPT}"))
fake = healthy_fake()
provider = one_provider(OPENAI)


async def test_complete_returns_the_text_usage_and_model(provider: OpenAIProvider) -> None:
    OPENAI.assert_whole_answer(await provider.complete(REQUEST))


async def test_stream_yields_deltas_in_order_then_one_end(
    provider: OpenAIProvider, fake: FakeUpstream
) -> None:
    parts = await collect(provider.stream(REQUEST))

    assert parts == OPENAI.whole_stream()
    assert fake.requests[0].body["stream_options"] == {"include_usage": True}


async def test_request_carries_model_messages_limits_and_key(
    provider: OpenAIProvider, fake: FakeUpstream
) -> None:
    await provider.complete(REQUEST)

    sent = fake.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-test"
    assert sent.body["messages"] == [
        {"role": "system", "content": "Answer from the cookbook."},
        {"role": "user", "content": PROMPT},
    ]
    assert sent.body["max_tokens"] == 64
    assert "temperature" in sent.body
    assert sent.body["temperature"] == 0
    assert sent.headers["authorization"] == f"Bearer {KEY}"


async def test_request_model_overrides_the_configured_one(
    provider: OpenAIProvider, fake: FakeUpstream
) -> None:
    await check_request_model_overrides(provider, fake, "gpt-other")


async def test_only_a_provider_with_a_key_is_configured() -> None:
    await check_only_a_provider_with_a_key_is_configured(OPENAI)


@pytest.mark.parametrize("stream", [False, True])
async def test_refused_connection_is_connect_error(stream: bool) -> None:
    await check_refused_connection(OPENAI, stream)


# A hang holds back the response headers; a slow first chunk comes after them, mid-stream.
@pytest.mark.parametrize("slow", ["hang", "first_chunk"])
@pytest.mark.parametrize("stream", [False, True])
async def test_silence_past_the_read_timeout_is_timeout(fake: FakeUpstream, slow: str, stream: bool) -> None:
    await check_silence_past_the_read_timeout(OPENAI, fake, slow, stream)


@pytest.mark.parametrize(STATUS_FIELDS, STATUSES)
@pytest.mark.parametrize("stream", [False, True])
async def test_error_status_maps_to_its_reason(
    provider: OpenAIProvider,
    fake: FakeUpstream,
    status: int,
    retry_after: str | None,
    reason: FailureReason,
    seconds: float | None,
    stream: bool,
) -> None:
    await check_error_status(OPENAI, provider, fake, status, retry_after, reason, seconds, stream)


@pytest.mark.parametrize("stream", [False, True])
async def test_malformed_body_is_malformed_response(
    provider: OpenAIProvider, fake: FakeUpstream, stream: bool
) -> None:
    await check_malformed_body(OPENAI, provider, fake, stream)


async def test_stream_cut_mid_way_raises_after_the_first_deltas(
    provider: OpenAIProvider, fake: FakeUpstream
) -> None:
    # The role chunk, then two text chunks.
    await check_stream_cut_mid_way(OPENAI, provider, fake, cut_after=3)


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        # The body simply ends: no finish reason, no usage, no [DONE].
        (b"", FailureReason.stream_interrupted),
        # The server reports a failure inside the 200 stream.
        (
            b'data: {"error": {"message": "overloaded", "type": "server_error", "code": null}}\n\n',
            FailureReason.server_error,
        ),
    ],
    ids=["ends", "error-event"],
)
async def test_stream_that_stops_early_raises_after_the_first_deltas(
    tail: bytes, reason: FailureReason
) -> None:
    await check_stream_that_stops_early(OPENAI, _StopsEarlyWire(tail), reason)
