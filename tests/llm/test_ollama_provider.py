"""OllamaProvider on the real `ollama` SDK, against a local server speaking Ollama's wire format."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import Provider, ProviderConfig
from purpose_agent.llm.providers.ollama import OllamaProvider
from purpose_agent.llm.types import ChatRequest, Message, StreamEnd, StreamPart, TextDelta, Usage
from tests.llm.fake_ollama import OllamaWire, Variant
from tests.llm.fake_upstream import FakeUpstream, Fault, Reply, refused_url

# Ollama needs no key; a hosted one behind a bearer token does, and that key must not leak either.
API_KEY = "ollama-test-key-0123456789"
REQUEST = ChatRequest(
    messages=(
        Message("system", "Answer in one sentence."),
        Message("user", "Say hello."),
        Message("assistant", "Hello?"),
        Message("user", "Once more."),
    ),
    temperature=0.0,
    max_tokens=64,
)
DELTAS = [TextDelta("Hello"), TextDelta(" from"), TextDelta(" the"), TextDelta(" fake"), TextDelta(".")]

MakeProvider = Callable[..., OllamaProvider]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(OllamaWire()).start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def wire(upstream: FakeUpstream) -> OllamaWire:
    # Every test starts from a healthy fake with an empty log.
    upstream.set_fault(Fault())
    upstream.reply = Reply()
    upstream.requests.clear()
    wire = upstream.wire
    assert isinstance(wire, OllamaWire)
    wire.variant = "normal"
    return wire


@pytest.fixture
async def make_provider(upstream: FakeUpstream) -> AsyncIterator[MakeProvider]:
    made: list[OllamaProvider] = []

    def make(**changes: Any) -> OllamaProvider:
        config = ProviderConfig(
            name="ollama", model="llama-test", api_key=API_KEY, base_url=upstream.base_url
        )
        made.append(OllamaProvider(replace(config, **changes)))
        return made[-1]

    yield make
    for provider in made:
        await provider.aclose()


def answer(status: int, retry_after: str | None = None) -> Fault:
    """The fake answers `status` with the vendor's error body."""
    return Fault(kind="status", status=status, retry_after=retry_after)


async def call(provider: OllamaProvider, mode: str, received: list[StreamPart]) -> None:
    """One request, whole or streamed; streamed parts go to `received` as they arrive."""
    if mode == "complete":
        await provider.complete(REQUEST)
        return
    async for part in provider.stream(REQUEST):
        received.append(part)


async def failure(
    provider: OllamaProvider, mode: str, received: list[StreamPart] | None = None
) -> ProviderError:
    """The ProviderError the request raises, checked for what every failure must hold."""
    with pytest.raises(ProviderError) as caught:
        await call(provider, mode, [] if received is None else received)
    error = caught.value
    assert error.provider == "ollama"
    assert API_KEY not in str(error)
    assert API_KEY not in error.detail
    return error


async def test_whole_answer_has_text_usage_and_model(make_provider: MakeProvider) -> None:
    provider = make_provider()
    assert isinstance(provider, Provider)

    completion = await provider.complete(REQUEST)

    assert completion.text == "Hello from the fake."
    assert completion.usage == Usage(prompt_tokens=11, completion_tokens=5)
    assert completion.model == "llama-test"


async def test_request_on_the_wire(make_provider: MakeProvider, upstream: FakeUpstream) -> None:
    await make_provider().complete(REQUEST)

    [sent] = upstream.requests
    assert sent.path == "/api/chat"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == "llama-test"
    assert sent.body["stream"] is False
    assert sent.body["messages"] == [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "content": "Hello?"},
        {"role": "user", "content": "Once more."},
    ]
    options = sent.body["options"]
    assert options["num_predict"] == 64
    # Present and zero: a dropped or defaulted temperature would make answers random.
    assert "temperature" in options
    assert options["temperature"] == 0


async def test_request_model_overrides_the_configured_one(
    make_provider: MakeProvider, upstream: FakeUpstream
) -> None:
    completion = await make_provider().complete(replace(REQUEST, model="llama-other", temperature=0.3))

    assert completion.model == "llama-other"
    assert upstream.requests[0].body["model"] == "llama-other"
    assert upstream.requests[0].body["options"]["temperature"] == pytest.approx(0.3)


async def test_stream_yields_deltas_in_order_then_one_end(
    make_provider: MakeProvider, upstream: FakeUpstream
) -> None:
    parts: list[StreamPart] = []

    await call(make_provider(), "stream", parts)

    assert parts == [*DELTAS, StreamEnd(Usage(prompt_tokens=11, completion_tokens=5), "llama-test")]
    [sent] = upstream.requests
    assert sent.body["stream"] is True


async def test_configured_only_with_a_host(
    make_provider: MakeProvider, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK would take this one if we let it; an operator who set no host did not ask for Ollama.
    monkeypatch.setenv("OLLAMA_HOST", upstream.base_url)
    hostless = make_provider(base_url=None)
    keyless = make_provider(api_key=None)

    assert hostless.configured is False
    error = await failure(hostless, "complete")
    assert error.reason is FailureReason.credentials_rejected
    assert upstream.requests == []
    assert keyless.configured is True
    assert (await keyless.complete(REQUEST)).text == "Hello from the fake."
    assert "authorization" not in upstream.requests[0].headers


async def test_environment_cannot_redirect_the_sdk(
    make_provider: MakeProvider, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", refused_url())
    monkeypatch.setenv("OLLAMA_API_KEY", "someone-elses-key")

    completion = await make_provider().complete(REQUEST)

    assert completion.text == "Hello from the fake."
    assert upstream.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize(
    ("fault", "reason", "status", "retry_after"),
    [
        pytest.param(answer(500), FailureReason.server_error, 500, None, id="500"),
        pytest.param(answer(503), FailureReason.server_error, 503, None, id="503"),
        pytest.param(answer(401), FailureReason.credentials_rejected, 401, None, id="401"),
        pytest.param(answer(403), FailureReason.credentials_rejected, 403, None, id="403"),
        pytest.param(answer(400), FailureReason.bad_request, 400, None, id="400"),
        pytest.param(answer(404), FailureReason.bad_request, 404, None, id="404"),
        # The SDK's ResponseError has no headers: this is read by the adapter's response hook.
        pytest.param(answer(429, retry_after="1"), FailureReason.rate_limited, 429, 1.0, id="429"),
        pytest.param(answer(429), FailureReason.rate_limited, 429, None, id="429-no-header"),
        pytest.param(Fault(kind="malformed"), FailureReason.malformed_response, None, None, id="malformed"),
    ],
)
async def test_fault_is_translated(
    make_provider: MakeProvider,
    upstream: FakeUpstream,
    mode: str,
    fault: Fault,
    reason: FailureReason,
    status: int | None,
    retry_after: float | None,
) -> None:
    upstream.set_fault(fault)

    error = await failure(make_provider(), mode)

    assert error.reason is reason
    assert error.status == status
    assert error.retry_after == retry_after
    # Ollama's error text is free-form and may quote the request: only the status goes out.
    assert "fake answers" not in error.detail
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_connection_refused(make_provider: MakeProvider, mode: str) -> None:
    error = await failure(make_provider(base_url=refused_url()), mode)

    assert error.reason is FailureReason.connect_error


@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_hang_past_the_read_timeout(
    make_provider: MakeProvider, upstream: FakeUpstream, mode: str
) -> None:
    upstream.set_fault(Fault(kind="hang", hang_seconds=3))
    provider = make_provider(read_timeout=0.5)

    started = time.monotonic()
    error = await failure(provider, mode)

    assert error.reason is FailureReason.timeout
    assert time.monotonic() - started < 2.5


async def test_stream_cut_after_two_chunks(make_provider: MakeProvider, upstream: FakeUpstream) -> None:
    upstream.set_fault(Fault(kind="cut", cut_after=2))
    received: list[StreamPart] = []

    error = await failure(make_provider(), "stream", received)

    assert received == DELTAS[:2]
    assert error.reason is FailureReason.stream_interrupted


@pytest.mark.parametrize(
    ("variant", "mode", "reason", "delivered"),
    [
        # Every delta arrived, but without the `done` object the answer may be truncated: no StreamEnd.
        pytest.param("unfinished", "stream", FailureReason.stream_interrupted, 5, id="no-done"),
        pytest.param("wrong_shape", "complete", FailureReason.malformed_response, 0, id="wrong-shape"),
        pytest.param("wrong_shape", "stream", FailureReason.malformed_response, 0, id="wrong-shape-stream"),
        pytest.param("error_event", "stream", FailureReason.server_error, 1, id="error-event"),
    ],
)
async def test_odd_answer_is_translated(
    make_provider: MakeProvider,
    wire: OllamaWire,
    variant: Variant,
    mode: str,
    reason: FailureReason,
    delivered: int,
) -> None:
    wire.variant = variant
    received: list[StreamPart] = []

    error = await failure(make_provider(), mode, received)

    assert error.reason is reason
    assert received == DELTAS[:delivered]
    assert "stopped" not in error.detail  # the error event's free text stays out of the detail


async def test_provider_is_reused_after_failures(make_provider: MakeProvider, upstream: FakeUpstream) -> None:
    provider = make_provider()
    upstream.set_fault(Fault(kind="status", status=500, times=1))

    first = await failure(provider, "complete")
    answer = await provider.complete(REQUEST)

    assert first.reason is FailureReason.server_error
    assert answer.text == "Hello from the fake."
