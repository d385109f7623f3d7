"""`AnthropicProvider` against a local server speaking Anthropic's wire format, healthy and faulty."""

from __future__ import annotations

import pytest

from purpose_agent.llm.errors import FailureReason
from purpose_agent.llm.providers.anthropic import AnthropicProvider
from purpose_agent.llm.types import ChatRequest, Message
from tests.llm.fake_anthropic import AnthropicWire
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

KEY = "sk-ant-test-2d8b6e4a0c"
REQUEST = ChatRequest(
    messages=(
        Message("system", "Answer from the cookbook."),
        Message("user", PROMPT),
        Message("assistant", "Which cookbook?"),
        Message("system", "Cite the page."),
        Message("user", "The red one."),
    ),
    temperature=0.0,
    max_tokens=64,
)
ANTHROPIC = Vendor(
    AnthropicProvider, name="anthropic", model="claude-test", key=KEY, request=REQUEST, secrets=(PROMPT,)
)


class _StopsEarlyWire(AnthropicWire):
    """Streams up to the second text delta, then `tail` instead of the rest of the stream."""

    def __init__(self, tail: bytes) -> None:
        super().__init__()
        self.tail = tail

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        return [*super().stream_chunks(request, reply)[:5], self.tail]


# Error bodies echo the key and the prompt, as vendors' messages do: neither may reach our errors.
upstream = serve(lambda: AnthropicWire(echo=f"{KEY} {PROMPT}"))
fake = healthy_fake()
provider = one_provider(ANTHROPIC)


async def test_complete_returns_the_text_usage_and_model(provider: AnthropicProvider) -> None:
    ANTHROPIC.assert_whole_answer(await provider.complete(REQUEST))


async def test_stream_yields_deltas_in_order_then_one_end(
    provider: AnthropicProvider, fake: FakeUpstream
) -> None:
    parts = await collect(provider.stream(REQUEST))

    assert parts == ANTHROPIC.whole_stream()
    assert fake.requests[0].body["stream"] is True


async def test_request_carries_model_system_messages_limits_and_key(
    provider: AnthropicProvider, fake: FakeUpstream
) -> None:
    await provider.complete(REQUEST)

    sent = fake.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.body["model"] == "claude-test"
    assert sent.body["system"] == "Answer from the cookbook.\n\nCite the page."
    assert sent.body["messages"] == [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": "Which cookbook?"},
        {"role": "user", "content": "The red one."},
    ]
    assert sent.body["max_tokens"] == 64
    # The SDK speaks API version 2026-10-21, which answers 400 to any sampling temperature, even 0.
    assert sent.headers["anthropic-version"] == "2026-10-21"
    assert "temperature" not in sent.body
    # SDK 2.x sends the key as a bearer token, no longer as `x-api-key`.
    assert sent.headers["authorization"] == f"Bearer {KEY}"


async def test_request_without_system_messages_sends_no_system(
    provider: AnthropicProvider, fake: FakeUpstream
) -> None:
    await provider.complete(ChatRequest(messages=(Message("user", "hi"),)))

    assert "system" not in fake.requests[0].body


async def test_request_model_overrides_the_configured_one(
    provider: AnthropicProvider, fake: FakeUpstream
) -> None:
    await check_request_model_overrides(provider, fake, "claude-other")


async def test_only_a_provider_with_a_key_is_configured() -> None:
    await check_only_a_provider_with_a_key_is_configured(ANTHROPIC)


@pytest.mark.parametrize("stream", [False, True])
async def test_refused_connection_is_connect_error(stream: bool) -> None:
    await check_refused_connection(ANTHROPIC, stream)


# A hang holds back the response headers; a slow first chunk comes after them, mid-stream.
@pytest.mark.parametrize("slow", ["hang", "first_chunk"])
@pytest.mark.parametrize("stream", [False, True])
async def test_silence_past_the_read_timeout_is_timeout(fake: FakeUpstream, slow: str, stream: bool) -> None:
    await check_silence_past_the_read_timeout(ANTHROPIC, fake, slow, stream)


# 529 is Anthropic's own status for an overloaded API.
@pytest.mark.parametrize(STATUS_FIELDS, [*STATUSES, (529, None, FailureReason.server_error, None)])
@pytest.mark.parametrize("stream", [False, True])
async def test_error_status_maps_to_its_reason(
    provider: AnthropicProvider,
    fake: FakeUpstream,
    status: int,
    retry_after: str | None,
    reason: FailureReason,
    seconds: float | None,
    stream: bool,
) -> None:
    await check_error_status(ANTHROPIC, provider, fake, status, retry_after, reason, seconds, stream)


@pytest.mark.parametrize("stream", [False, True])
async def test_malformed_body_is_malformed_response(
    provider: AnthropicProvider, fake: FakeUpstream, stream: bool
) -> None:
    await check_malformed_body(ANTHROPIC, provider, fake, stream)


async def test_stream_cut_mid_way_raises_after_the_first_deltas(
    provider: AnthropicProvider, fake: FakeUpstream
) -> None:
    # The message and block starts, a ping, two text deltas.
    await check_stream_cut_mid_way(ANTHROPIC, provider, fake, cut_after=5)


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        # The body simply ends: no `message_delta`, no `message_stop`.
        (b"", FailureReason.stream_interrupted),
        # The server reports a failure inside the 200 stream.
        (
            b"event: error\n"
            b'data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n',
            FailureReason.server_error,
        ),
    ],
    ids=["ends", "error-event"],
)
async def test_stream_that_stops_early_raises_after_the_first_deltas(
    tail: bytes, reason: FailureReason
) -> None:
    await check_stream_that_stops_early(ANTHROPIC, _StopsEarlyWire(tail), reason)
