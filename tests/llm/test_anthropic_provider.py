"""`AnthropicProvider` against a local server speaking Anthropic's wire format, healthy and faulty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.anthropic import AnthropicProvider
from purpose_agent.llm.providers.base import ProviderConfig
from purpose_agent.llm.types import ChatRequest, Message, StreamEnd, StreamPart, TextDelta, Usage
from tests.llm.fake_anthropic import AnthropicWire
from tests.llm.fake_upstream import FakeUpstream, Fault, RecordedRequest, Reply, refused_url

KEY = "sk-ant-test-2d8b6e4a0c"
PROMPT = "Which spice makes the lentil soup sing?"
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
FIRST_DELTAS = [TextDelta("Hello"), TextDelta(" from")]


class _StopsEarlyWire(AnthropicWire):
    """Streams up to the second text delta, then `tail` instead of the rest of the stream."""

    def __init__(self, tail: bytes) -> None:
        super().__init__()
        self.tail = tail

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        return [*super().stream_chunks(request, reply)[:5], self.tail]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    # Error bodies echo the key and the prompt, as vendors' messages do: neither may reach our errors.
    fake = FakeUpstream(AnthropicWire(echo=f"{KEY} {PROMPT}")).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(upstream: FakeUpstream) -> FakeUpstream:
    upstream.set_fault(Fault())
    upstream.reply = Reply()
    upstream.requests.clear()
    return upstream


def _config(base_url: str, **changes: Any) -> ProviderConfig:
    settings: dict[str, Any] = {
        "name": "anthropic",
        "model": "claude-test",
        "api_key": KEY,
        "base_url": base_url,
    }
    return ProviderConfig(**(settings | changes))


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[AnthropicProvider]:
    adapter = AnthropicProvider(_config(fake.base_url))
    yield adapter
    await adapter.aclose()


async def _collect(parts: AsyncIterator[StreamPart]) -> list[StreamPart]:
    return [part async for part in parts]


async def _call(provider: AnthropicProvider, *, stream: bool) -> None:
    if stream:
        await _collect(provider.stream(REQUEST))
    else:
        await provider.complete(REQUEST)


async def _failure(provider: AnthropicProvider, *, stream: bool) -> ProviderError:
    """The error a call raises, checked to carry neither the key nor the prompt."""
    with pytest.raises(ProviderError) as caught:
        await _call(provider, stream=stream)
    return _discreet(caught.value)


async def _collect_until_failure(parts: AsyncIterator[StreamPart]) -> tuple[list[StreamPart], ProviderError]:
    received: list[StreamPart] = []
    try:
        async for part in parts:
            received.append(part)
    except ProviderError as error:
        return received, _discreet(error)
    pytest.fail("the stream finished without an error")


def _discreet(error: ProviderError) -> ProviderError:
    for secret in (KEY, PROMPT):
        assert secret not in str(error)
        assert secret not in error.detail
    return error


async def test_complete_returns_the_text_usage_and_model(provider: AnthropicProvider) -> None:
    completion = await provider.complete(REQUEST)

    assert completion.text == "Hello from the fake."
    assert completion.usage == Usage(prompt_tokens=11, completion_tokens=5)
    assert completion.model == "claude-test"


async def test_stream_yields_deltas_in_order_then_one_end(
    provider: AnthropicProvider, fake: FakeUpstream
) -> None:
    parts = await _collect(provider.stream(REQUEST))

    assert parts == [
        *FIRST_DELTAS,
        TextDelta(" the"),
        TextDelta(" fake"),
        TextDelta("."),
        StreamEnd(usage=Usage(prompt_tokens=11, completion_tokens=5), model="claude-test"),
    ]
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
    completion = await provider.complete(ChatRequest(messages=(Message("user", "hi"),), model="claude-other"))

    assert fake.requests[0].body["model"] == "claude-other"
    assert completion.model == "claude-other"


async def test_only_a_provider_with_a_key_is_configured() -> None:
    keyless = AnthropicProvider(ProviderConfig(name="anthropic", model="claude-test"))
    keyed = AnthropicProvider(_config("http://127.0.0.1:9"))
    try:
        assert keyless.configured is False
        assert keyed.configured is True
    finally:
        await keyless.aclose()
        await keyed.aclose()


@pytest.mark.parametrize("stream", [False, True])
async def test_refused_connection_is_connect_error(stream: bool) -> None:
    adapter = AnthropicProvider(_config(refused_url()))
    try:
        error = await _failure(adapter, stream=stream)
    finally:
        await adapter.aclose()
    assert error.reason is FailureReason.connect_error


# A hang holds back the response headers; a slow first chunk comes after them, mid-stream.
@pytest.mark.parametrize("slow", ["hang", "first_chunk"])
@pytest.mark.parametrize("stream", [False, True])
async def test_silence_past_the_read_timeout_is_timeout(fake: FakeUpstream, slow: str, stream: bool) -> None:
    if slow == "hang":
        fake.set_fault(Fault(kind="hang", hang_seconds=3))
    else:
        fake.reply = Reply(first_chunk_delay=3)
    adapter = AnthropicProvider(_config(fake.base_url, read_timeout=0.5))
    try:
        error = await _failure(adapter, stream=stream)
    finally:
        await adapter.aclose()
    assert error.reason is FailureReason.timeout


@pytest.mark.parametrize(
    ("status", "retry_after", "reason", "seconds"),
    [
        (500, None, FailureReason.server_error, None),
        (503, "1", FailureReason.server_error, None),
        (529, None, FailureReason.server_error, None),
        (401, None, FailureReason.credentials_rejected, None),
        (403, None, FailureReason.credentials_rejected, None),
        (400, None, FailureReason.bad_request, None),
        (404, None, FailureReason.bad_request, None),
        (429, "1", FailureReason.rate_limited, 1.0),
        (429, "2.5", FailureReason.rate_limited, 2.5),
        (429, None, FailureReason.rate_limited, None),
        (429, "soon", FailureReason.rate_limited, None),
    ],
)
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
    fake.set_fault(Fault(kind="status", status=status, retry_after=retry_after))

    error = await _failure(provider, stream=stream)

    assert error.reason is reason
    assert error.status == status
    assert error.retry_after == seconds


@pytest.mark.parametrize("stream", [False, True])
async def test_malformed_body_is_malformed_response(
    provider: AnthropicProvider, fake: FakeUpstream, stream: bool
) -> None:
    fake.set_fault(Fault(kind="malformed"))

    error = await _failure(provider, stream=stream)

    assert error.reason is FailureReason.malformed_response


async def test_stream_cut_mid_way_raises_after_the_first_deltas(
    provider: AnthropicProvider, fake: FakeUpstream
) -> None:
    fake.set_fault(Fault(kind="cut", cut_after=5))  # message and block starts, a ping, two text deltas

    parts, error = await _collect_until_failure(provider.stream(REQUEST))

    assert parts == FIRST_DELTAS
    assert error.reason is FailureReason.stream_interrupted


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
    upstream = FakeUpstream(_StopsEarlyWire(tail)).start()
    adapter = AnthropicProvider(_config(upstream.base_url))
    try:
        parts, error = await _collect_until_failure(adapter.stream(REQUEST))
    finally:
        await adapter.aclose()
        upstream.stop()

    assert parts == FIRST_DELTAS
    assert error.reason is reason
