"""GeminiProvider on the real `google-genai` SDK, against a local server speaking Gemini's wire format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.gemini import GeminiProvider
from purpose_agent.llm.types import ChatRequest, Message
from tests.llm.fake_gemini import GeminiWire, Variant
from tests.llm.fake_upstream import FakeUpstream, Fault
from tests.llm.provider_checks import (
    FAULT_FIELDS,
    FAULTS,
    MODES,
    ODD_ANSWER_FIELDS,
    TEXT,
    Vendor,
    answer,
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

API_KEY = "AIza-test-key-0123456789"
GEMINI = Vendor(GeminiProvider, name="gemini", model="gemini-test", key=API_KEY, request=REQUEST)

MakeProvider = Callable[..., GeminiProvider]

upstream = serve(GeminiWire)
wire = healthy_wire(GeminiWire)
make_provider = provider_maker(GEMINI)


async def test_whole_answer_has_text_usage_and_model(make_provider: MakeProvider) -> None:
    await check_whole_answer(GEMINI, make_provider)


async def test_request_on_the_wire(make_provider: MakeProvider, upstream: FakeUpstream) -> None:
    await make_provider().complete(REQUEST)

    [sent] = upstream.requests
    assert sent.path == "/v1beta/models/gemini-test:generateContent"
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert sent.body["systemInstruction"]["parts"] == [{"text": "Answer in one sentence."}]
    turns = [(content["role"], content["parts"][0]["text"]) for content in sent.body["contents"]]
    assert turns == [("user", "Say hello."), ("model", "Hello?"), ("user", "Once more.")]
    generation = sent.body["generationConfig"]
    assert generation["maxOutputTokens"] == 64
    # Present and zero: a dropped or defaulted temperature would make answers random.
    assert "temperature" in generation
    assert generation["temperature"] == 0


async def test_request_model_overrides_the_configured_one(
    make_provider: MakeProvider, upstream: FakeUpstream
) -> None:
    completion = await make_provider().complete(replace(REQUEST, model="gemini-other", temperature=0.3))

    assert completion.model == "gemini-other"
    assert upstream.requests[0].path == "/v1beta/models/gemini-other:generateContent"
    assert upstream.requests[0].body["generationConfig"]["temperature"] == pytest.approx(0.3)


async def test_stream_yields_deltas_in_order_then_one_end(
    make_provider: MakeProvider, upstream: FakeUpstream
) -> None:
    await check_stream(GEMINI, make_provider)

    [sent] = upstream.requests
    assert sent.path == "/v1beta/models/gemini-test:streamGenerateContent"
    assert sent.query == "alt=sse"


async def test_environment_cannot_redirect_the_sdk(
    make_provider: MakeProvider, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each of these would send the SDK to Vertex AI, another host, another API version or a replay file.
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_GENAI_USE_ENTERPRISE", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "someone-elses-project")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", refused_url())
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1")
    monkeypatch.setenv("GOOGLE_GENAI_CLIENT_MODE", "replay")
    monkeypatch.setenv("GOOGLE_GENAI_HTTP_CLIENT", "httpx2")

    completion = await make_provider().complete(REQUEST)

    assert completion.text == TEXT
    assert upstream.requests[0].path == "/v1beta/models/gemini-test:generateContent"


async def test_configured_only_with_a_key(
    make_provider: MakeProvider, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK would take this one if we let it; an operator who set no key did not ask for Gemini.
    monkeypatch.setenv("GOOGLE_API_KEY", API_KEY)
    keyless = make_provider(api_key=None)

    assert make_provider().configured is True
    assert keyless.configured is False
    error = await GEMINI.failure(keyless, "complete")
    assert error.reason is FailureReason.credentials_rejected
    assert upstream.requests == []


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
    await check_fault(GEMINI, make_provider, upstream, mode, fault, reason, status, retry_after)


async def test_detail_names_the_vendor_status(make_provider: MakeProvider, upstream: FakeUpstream) -> None:
    upstream.set_fault(answer(429))

    error = await GEMINI.failure(make_provider(), "complete")

    assert error.detail == "HTTP 429 RESOURCE_EXHAUSTED"


@pytest.mark.parametrize("mode", MODES)
async def test_connection_refused(make_provider: MakeProvider, mode: str) -> None:
    await check_connection_refused(GEMINI, make_provider, mode)


@pytest.mark.parametrize("mode", MODES)
async def test_hang_past_the_read_timeout(
    make_provider: MakeProvider, upstream: FakeUpstream, mode: str
) -> None:
    await check_hang_past_the_read_timeout(GEMINI, make_provider, upstream, mode)


async def test_stream_cut_after_two_chunks(make_provider: MakeProvider, upstream: FakeUpstream) -> None:
    await check_stream_cut_after_two_chunks(GEMINI, make_provider, upstream)


@pytest.mark.parametrize(
    ODD_ANSWER_FIELDS,
    [
        # Every delta arrived, but without a finish reason the answer may be truncated: no StreamEnd.
        pytest.param("unfinished", "stream", FailureReason.stream_interrupted, 5, id="no-finish-reason"),
        # The SDK reads JSON of any shape as an empty response without complaint; the adapter must not.
        pytest.param("wrong_shape", "complete", FailureReason.malformed_response, 0, id="wrong-shape"),
        pytest.param("wrong_shape", "stream", FailureReason.stream_interrupted, 0, id="wrong-shape-stream"),
        pytest.param("blocked", "complete", FailureReason.bad_request, 0, id="blocked"),
        pytest.param("blocked", "stream", FailureReason.bad_request, 0, id="blocked-stream"),
        pytest.param("error_event", "stream", FailureReason.server_error, 1, id="error-event"),
    ],
)
async def test_odd_answer_is_translated(
    make_provider: MakeProvider,
    wire: GeminiWire,
    variant: Variant,
    mode: str,
    reason: FailureReason,
    delivered: int,
) -> None:
    wire.variant = variant

    await check_odd_answer(GEMINI, make_provider, mode, reason, delivered)


async def test_only_system_messages_is_a_bad_request(
    make_provider: MakeProvider, upstream: FakeUpstream
) -> None:
    request = ChatRequest(messages=(Message("system", "Answer in one sentence."),))

    with pytest.raises(ProviderError) as caught:
        await make_provider().complete(request)

    # Gemini needs at least one turn in `contents`; nothing is sent that is bound to fail.
    assert caught.value.reason is FailureReason.bad_request
    assert upstream.requests == []


async def test_provider_is_reused_after_failures(make_provider: MakeProvider, upstream: FakeUpstream) -> None:
    await check_reused_after_failures(GEMINI, make_provider, upstream)
