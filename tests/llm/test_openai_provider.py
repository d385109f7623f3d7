"""`OpenAIProvider` against a local server speaking OpenAI's wire format, healthy and faulty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import ProviderConfig
from purpose_agent.llm.providers.openai import OpenAIProvider
from purpose_agent.llm.types import ChatRequest, Message, StreamEnd, StreamPart, TextDelta, Usage
from tests.llm.fake_openai import OpenAIWire
from tests.llm.fake_upstream import FakeUpstream, Fault, RecordedRequest, Reply, refused_url

KEY = "sk-test-7f3a9c1e5b"
PROMPT = "Which spice makes the lentil soup sing?"
REQUEST = ChatRequest(
    messages=(Message("system", "Answer from the cookbook."), Message("user", PROMPT)),
    temperature=0.0,
    max_tokens=64,
)
FIRST_DELTAS = [TextDelta("Hello"), TextDelta(" from")]


class _StopsEarlyWire(OpenAIWire):
    """Streams the role chunk and two text chunks, then `tail` instead of the rest of the stream."""

    def __init__(self, tail: bytes) -> None:
        super().__init__()
        self.tail = tail

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        return [*super().stream_chunks(request, reply)[:3], self.tail]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    # Error bodies echo the key and the prompt, as vendors' messages do: neither may reach our errors.
    fake = FakeUpstream(OpenAIWire(echo=f"{KEY} {PROMPT}")).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(upstream: FakeUpstream) -> FakeUpstream:
    upstream.set_fault(Fault())
    upstream.reply = Reply()
    upstream.requests.clear()
    return upstream


def _config(base_url: str, **changes: Any) -> ProviderConfig:
    settings: dict[str, Any] = {"name": "openai", "model": "gpt-test", "api_key": KEY, "base_url": base_url}
    return ProviderConfig(**(settings | changes))


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[OpenAIProvider]:
    adapter = OpenAIProvider(_config(f"{fake.base_url}/v1"))
    yield adapter
    await adapter.aclose()


async def _collect(parts: AsyncIterator[StreamPart]) -> list[StreamPart]:
    return [part async for part in parts]


async def _call(provider: OpenAIProvider, *, stream: bool) -> None:
    if stream:
        await _collect(provider.stream(REQUEST))
    else:
        await provider.complete(REQUEST)


async def _failure(provider: OpenAIProvider, *, stream: bool) -> ProviderError:
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


async def test_complete_returns_the_text_usage_and_model(provider: OpenAIProvider) -> None:
    completion = await provider.complete(REQUEST)

    assert completion.text == "Hello from the fake."
    assert completion.usage == Usage(prompt_tokens=11, completion_tokens=5)
    assert completion.model == "gpt-test"


async def test_stream_yields_deltas_in_order_then_one_end(
    provider: OpenAIProvider, fake: FakeUpstream
) -> None:
    parts = await _collect(provider.stream(REQUEST))

    assert parts == [
        *FIRST_DELTAS,
        TextDelta(" the"),
        TextDelta(" fake"),
        TextDelta("."),
        StreamEnd(usage=Usage(prompt_tokens=11, completion_tokens=5), model="gpt-test"),
    ]
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
    completion = await provider.complete(ChatRequest(messages=(Message("user", "hi"),), model="gpt-other"))

    assert fake.requests[0].body["model"] == "gpt-other"
    assert completion.model == "gpt-other"


async def test_only_a_provider_with_a_key_is_configured() -> None:
    keyless = OpenAIProvider(ProviderConfig(name="openai", model="gpt-test"))
    keyed = OpenAIProvider(_config("http://127.0.0.1:9/v1"))
    try:
        assert keyless.configured is False
        assert keyed.configured is True
    finally:
        await keyless.aclose()
        await keyed.aclose()


@pytest.mark.parametrize("stream", [False, True])
async def test_refused_connection_is_connect_error(stream: bool) -> None:
    adapter = OpenAIProvider(_config(f"{refused_url()}/v1"))
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
    adapter = OpenAIProvider(_config(f"{fake.base_url}/v1", read_timeout=0.5))
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
    provider: OpenAIProvider,
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
    provider: OpenAIProvider, fake: FakeUpstream, stream: bool
) -> None:
    fake.set_fault(Fault(kind="malformed"))

    error = await _failure(provider, stream=stream)

    assert error.reason is FailureReason.malformed_response


async def test_stream_cut_mid_way_raises_after_the_first_deltas(
    provider: OpenAIProvider, fake: FakeUpstream
) -> None:
    fake.set_fault(Fault(kind="cut", cut_after=3))  # the role chunk, then two text chunks

    parts, error = await _collect_until_failure(provider.stream(REQUEST))

    assert parts == FIRST_DELTAS
    assert error.reason is FailureReason.stream_interrupted


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
    upstream = FakeUpstream(_StopsEarlyWire(tail)).start()
    adapter = OpenAIProvider(_config(f"{upstream.base_url}/v1"))
    try:
        parts, error = await _collect_until_failure(adapter.stream(REQUEST))
    finally:
        await adapter.aclose()
        upstream.stop()

    assert parts == FIRST_DELTAS
    assert error.reason is reason
