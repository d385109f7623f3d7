"""OllamaProvider on the real `ollama` SDK, against a local server speaking Ollama's wire format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from purpose_agent.llm.errors import FailureReason
from purpose_agent.llm.providers.ollama import OllamaProvider
from tests.llm.fake_ollama import OllamaWire, Variant
from tests.llm.fake_upstream import FakeUpstream, Fault
from tests.llm.provider_checks import (
    FAULT_FIELDS,
    FAULTS,
    MODES,
    ODD_ANSWER_FIELDS,
    TEXT,
    Vendor,
    check_connection_refused,
    check_fault,
    check_hang_past_the_read_timeout,
    check_odd_answer,
    check_reused_after_failures,
    check_stream,
    check_stream_cut_after_two_chunks,
    check_whole_answer,
    healthy_wire,
    provider_maker,
    serve,
)
from tests.llm.provider_checks import TURNS as REQUEST
from tests.ports import refused_url

# Ollama needs no key; a hosted one behind a bearer token does, and that key must not leak either.
API_KEY = "ollama-test-key-0123456789"
OLLAMA = Vendor(OllamaProvider, name="ollama", model="llama-test", key=API_KEY, request=REQUEST)

MakeProvider = Callable[..., OllamaProvider]

upstream = serve(OllamaWire)
wire = healthy_wire(OllamaWire)
make_provider = provider_maker(OLLAMA)


async def test_whole_answer_has_text_usage_and_model(make_provider: MakeProvider) -> None:
    await check_whole_answer(OLLAMA, make_provider)


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
    await check_stream(OLLAMA, make_provider)

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
    error = await OLLAMA.failure(hostless, "complete")
    assert error.reason is FailureReason.credentials_rejected
    assert upstream.requests == []
    assert keyless.configured is True
    assert (await keyless.complete(REQUEST)).text == TEXT
    assert "authorization" not in upstream.requests[0].headers


async def test_environment_cannot_redirect_the_sdk(
    make_provider: MakeProvider, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", refused_url())
    monkeypatch.setenv("OLLAMA_API_KEY", "someone-elses-key")

    completion = await make_provider().complete(REQUEST)

    assert completion.text == TEXT
    assert upstream.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


# The SDK's ResponseError has no headers: a 429's Retry-After is read by the adapter's response hook.
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(FAULT_FIELDS, FAULTS)
async def test_fault_is_translated(
    make_provider: MakeProvider,
    upstream: FakeUpstream,
    mode: str,
    fault: Fault,
    reason: FailureReason,
    status: int | None,
    retry_after: float | None,
) -> None:
    error = await check_fault(OLLAMA, make_provider, upstream, mode, fault, reason, status, retry_after)

    # Ollama's error text is free-form and may quote the request: only the status goes out.
    assert "fake answers" not in error.detail


@pytest.mark.parametrize("mode", MODES)
async def test_connection_refused(make_provider: MakeProvider, mode: str) -> None:
    await check_connection_refused(OLLAMA, make_provider, mode)


@pytest.mark.parametrize("mode", MODES)
async def test_hang_past_the_read_timeout(
    make_provider: MakeProvider, upstream: FakeUpstream, mode: str
) -> None:
    await check_hang_past_the_read_timeout(OLLAMA, make_provider, upstream, mode)


async def test_stream_cut_after_two_chunks(make_provider: MakeProvider, upstream: FakeUpstream) -> None:
    await check_stream_cut_after_two_chunks(OLLAMA, make_provider, upstream)


@pytest.mark.parametrize(
    ODD_ANSWER_FIELDS,
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

    error = await check_odd_answer(OLLAMA, make_provider, mode, reason, delivered)

    assert "stopped" not in error.detail  # the error event's free text stays out of the detail


async def test_provider_is_reused_after_failures(make_provider: MakeProvider, upstream: FakeUpstream) -> None:
    await check_reused_after_failures(OLLAMA, make_provider, upstream)
