"""What the adapter tests share: fixtures around `FakeUpstream`, fault tables, and the checks they run.

Two families of tests use it, each with the conventions it had:

- the Gemini and Ollama tests build adapters with a `make_provider` fixture and call them in a `mode`
  (`complete` or `stream`); every failure names its provider;
- the OpenAI and Anthropic tests use one `provider` fixture and call it with `stream=`; the fake's error
  bodies echo the key and the prompt.

In both, no error may carry the `Vendor`'s secrets: its key, and the prompt where the fake echoes it.
A `check_*` function is one test's body, shared by the tests of the same name in both files of a family.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import pytest

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import Provider, ProviderConfig
from purpose_agent.llm.types import ChatRequest, Completion, Message, StreamEnd, StreamPart, TextDelta, Usage
from tests.llm.fake_gemini import GeminiWire
from tests.llm.fake_ollama import OllamaWire
from tests.llm.fake_upstream import FakeUpstream, Fault, Reply, VendorWire
from tests.ports import refused_url

P = TypeVar("P", bound=Provider)
W = TypeVar("W", GeminiWire, OllamaWire)

# What the fake answers when healthy (`Reply()`), as the adapters must hand it on.
DELTAS = [TextDelta("Hello"), TextDelta(" from"), TextDelta(" the"), TextDelta(" fake"), TextDelta(".")]
FIRST_DELTAS = DELTAS[:2]
TEXT = "Hello from the fake."
USAGE = Usage(prompt_tokens=11, completion_tokens=5)

# In the OpenAI and Anthropic tests' requests, and echoed by the fake's error bodies there.
PROMPT = "Which spice makes the lentil soup sing?"
# The conversation the Gemini and Ollama tests send.
TURNS = ChatRequest(
    messages=(
        Message("system", "Answer in one sentence."),
        Message("user", "Say hello."),
        Message("assistant", "Hello?"),
        Message("user", "Once more."),
    ),
    temperature=0.0,
    max_tokens=64,
)

MODES = ["complete", "stream"]


@dataclass(frozen=True)
class Vendor(Generic[P]):
    """One adapter under test: how to build it, what it sends, and what its errors must never carry."""

    adapter: Callable[[ProviderConfig], P]
    name: str
    model: str
    key: str
    request: ChatRequest
    # Where the API sits below the server's root, as `base_url` must name it (`/v1` for OpenAI).
    path: str = ""
    # Besides the key: what no error may carry, e.g. the prompt that the fake's error bodies echo.
    secrets: tuple[str, ...] = ()

    def config(self, root: str, **changes: Any) -> ProviderConfig:
        """The adapter's config against the server at `root`, with `changes`."""
        config = ProviderConfig(self.name, self.model, api_key=self.key, base_url=f"{root}{self.path}")
        return replace(config, **changes)

    def whole_stream(self) -> list[StreamPart]:
        """Every part of the healthy fake's stream, as answered by the configured model."""
        return [*DELTAS, StreamEnd(usage=USAGE, model=self.model)]

    def assert_whole_answer(self, completion: Completion) -> None:
        """`completion` is the healthy fake's answer, by the configured model."""
        assert completion.text == TEXT
        assert completion.usage == USAGE
        assert completion.model == self.model

    def discreet(self, error: ProviderError) -> ProviderError:
        """`error`, checked to carry none of the secrets."""
        for secret in (self.key, *self.secrets):
            assert secret not in str(error)
            assert secret not in error.detail
        return error

    async def call(self, provider: P, mode: str, received: list[StreamPart]) -> None:
        """One request, whole or streamed; streamed parts go to `received` as they arrive."""
        if mode == "complete":
            await provider.complete(self.request)
            return
        async for part in provider.stream(self.request):
            received.append(part)

    async def failure(
        self, provider: P, mode: str, received: list[StreamPart] | None = None
    ) -> ProviderError:
        """The ProviderError the request raises, checked for what every failure must hold."""
        with pytest.raises(ProviderError) as caught:
            await self.call(provider, mode, [] if received is None else received)
        error = caught.value
        assert error.provider == self.name
        return self.discreet(error)


def serve(wire: Callable[[], VendorWire]) -> object:
    """A module-scoped `upstream` fixture: a `FakeUpstream` speaking `wire()`'s format."""

    @pytest.fixture(scope="module", name="upstream")
    def upstream() -> Iterator[FakeUpstream]:
        fake = FakeUpstream(wire()).start()
        yield fake
        fake.stop()

    return upstream


def reset(upstream: FakeUpstream) -> FakeUpstream:
    """`upstream`, healthy again and with an empty log."""
    upstream.set_fault(Fault())
    upstream.reply = Reply()
    upstream.requests.clear()
    return upstream


# Gemini and Ollama: a `make_provider` fixture, calls in a `mode`.

Maker = Callable[..., P]  # `make_provider`: builds the adapter, with config changes


def healthy_wire(kind: type[W]) -> object:
    """An autouse `wire` fixture: every test starts from a healthy fake with an empty log."""

    @pytest.fixture(autouse=True, name="wire")
    def wire(upstream: FakeUpstream) -> W:
        wire = reset(upstream).wire
        assert isinstance(wire, kind)
        wire.variant = "normal"
        return wire

    return wire


def provider_maker(vendor: Vendor[P]) -> object:
    """A `make_provider` fixture: `make(**changes)` builds an adapter against the fake; all closed after."""

    @pytest.fixture(name="make_provider")
    async def make_provider(upstream: FakeUpstream) -> AsyncIterator[Maker[P]]:
        made: list[P] = []

        def make(**changes: Any) -> P:
            made.append(vendor.adapter(vendor.config(upstream.base_url, **changes)))
            return made[-1]

        yield make
        for provider in made:
            await provider.aclose()

    return make_provider


def answer(status: int, retry_after: str | None = None) -> Fault:
    """The fake answers `status` with the vendor's error body."""
    return Fault(kind="status", status=status, retry_after=retry_after)


FAULT_FIELDS = ("fault", "reason", "status", "retry_after")
FAULTS = [
    pytest.param(answer(500), FailureReason.server_error, 500, None, id="500"),
    pytest.param(answer(503), FailureReason.server_error, 503, None, id="503"),
    pytest.param(answer(401), FailureReason.credentials_rejected, 401, None, id="401"),
    pytest.param(answer(403), FailureReason.credentials_rejected, 403, None, id="403"),
    pytest.param(answer(400), FailureReason.bad_request, 400, None, id="400"),
    pytest.param(answer(404), FailureReason.bad_request, 404, None, id="404"),
    pytest.param(answer(429, retry_after="1"), FailureReason.rate_limited, 429, 1.0, id="429"),
    pytest.param(answer(429), FailureReason.rate_limited, 429, None, id="429-no-header"),
    pytest.param(Fault(kind="malformed"), FailureReason.malformed_response, None, None, id="malformed"),
]

ODD_ANSWER_FIELDS = ("variant", "mode", "reason", "delivered")


async def check_whole_answer(vendor: Vendor[P], make_provider: Maker[P]) -> None:
    provider = make_provider()
    assert isinstance(provider, Provider)

    vendor.assert_whole_answer(await provider.complete(vendor.request))


async def check_stream(vendor: Vendor[P], make_provider: Maker[P]) -> None:
    parts: list[StreamPart] = []

    await vendor.call(make_provider(), "stream", parts)

    assert parts == vendor.whole_stream()


async def check_fault(
    vendor: Vendor[P],
    make_provider: Maker[P],
    upstream: FakeUpstream,
    mode: str,
    fault: Fault,
    reason: FailureReason,
    status: int | None,
    retry_after: float | None,
) -> ProviderError:
    upstream.set_fault(fault)

    error = await vendor.failure(make_provider(), mode)

    assert error.reason is reason
    assert error.status == status
    assert error.retry_after == retry_after
    # One attempt only: the SDK's own retries would hide failures from the router.
    assert len(upstream.requests) == 1
    return error


async def check_connection_refused(vendor: Vendor[P], make_provider: Maker[P], mode: str) -> None:
    error = await vendor.failure(make_provider(base_url=refused_url()), mode)

    assert error.reason is FailureReason.connect_error


async def check_hang_past_the_read_timeout(
    vendor: Vendor[P], make_provider: Maker[P], upstream: FakeUpstream, mode: str
) -> None:
    upstream.set_fault(Fault(kind="hang", hang_seconds=3))
    provider = make_provider(read_timeout=0.5)

    started = time.monotonic()
    error = await vendor.failure(provider, mode)

    assert error.reason is FailureReason.timeout
    assert time.monotonic() - started < 2.5


async def check_stream_cut_after_two_chunks(
    vendor: Vendor[P], make_provider: Maker[P], upstream: FakeUpstream
) -> None:
    upstream.set_fault(Fault(kind="cut", cut_after=2))
    received: list[StreamPart] = []

    error = await vendor.failure(make_provider(), "stream", received)

    assert received == FIRST_DELTAS
    assert error.reason is FailureReason.stream_interrupted


async def check_odd_answer(
    vendor: Vendor[P], make_provider: Maker[P], mode: str, reason: FailureReason, delivered: int
) -> ProviderError:
    """After the test has set its wire's variant."""
    received: list[StreamPart] = []

    error = await vendor.failure(make_provider(), mode, received)

    assert error.reason is reason
    assert received == DELTAS[:delivered]
    return error


async def check_reused_after_failures(
    vendor: Vendor[P], make_provider: Maker[P], upstream: FakeUpstream
) -> None:
    provider = make_provider()
    upstream.set_fault(Fault(kind="status", status=500, times=1))

    first = await vendor.failure(provider, "complete")
    completion = await provider.complete(vendor.request)

    assert first.reason is FailureReason.server_error
    assert completion.text == TEXT


# OpenAI and Anthropic: one `provider` fixture, calls with `stream=`.


def healthy_fake() -> object:
    """A `fake` fixture: the module's `upstream`, healthy again and with an empty log."""

    @pytest.fixture(name="fake")
    def fake(upstream: FakeUpstream) -> FakeUpstream:
        return reset(upstream)

    return fake


def one_provider(vendor: Vendor[P]) -> object:
    """A `provider` fixture: the adapter against the healthy fake, closed after the test."""

    @pytest.fixture(name="provider")
    async def provider(fake: FakeUpstream) -> AsyncIterator[P]:
        adapter = vendor.adapter(vendor.config(fake.base_url))
        yield adapter
        await adapter.aclose()

    return provider


async def collect(parts: AsyncIterator[StreamPart]) -> list[StreamPart]:
    return [part async for part in parts]


async def collect_until_failure(
    vendor: Vendor[P], parts: AsyncIterator[StreamPart]
) -> tuple[list[StreamPart], ProviderError]:
    received: list[StreamPart] = []
    try:
        async for part in parts:
            received.append(part)
    except ProviderError as error:
        return received, vendor.discreet(error)
    pytest.fail("the stream finished without an error")


async def raised(vendor: Vendor[P], provider: P, *, stream: bool) -> ProviderError:
    """The error a call raises, checked to carry neither the key nor the prompt."""
    with pytest.raises(ProviderError) as caught:
        await vendor.call(provider, "stream" if stream else "complete", [])
    return vendor.discreet(caught.value)


async def raised_by_own_adapter(
    vendor: Vendor[P], root: str, *, stream: bool, **changes: Any
) -> ProviderError:
    """The error a call raises from an adapter of its own against `root`, closed after."""
    adapter = vendor.adapter(vendor.config(root, **changes))
    try:
        return await raised(vendor, adapter, stream=stream)
    finally:
        await adapter.aclose()


STATUS_FIELDS = ("status", "retry_after", "reason", "seconds")
STATUSES = [
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
]


async def check_request_model_overrides(provider: Provider, fake: FakeUpstream, other: str) -> None:
    completion = await provider.complete(ChatRequest(messages=(Message("user", "hi"),), model=other))

    assert fake.requests[0].body["model"] == other
    assert completion.model == other


async def check_only_a_provider_with_a_key_is_configured(vendor: Vendor[P]) -> None:
    keyless = vendor.adapter(ProviderConfig(name=vendor.name, model=vendor.model))
    keyed = vendor.adapter(vendor.config("http://127.0.0.1:9"))
    try:
        assert keyless.configured is False
        assert keyed.configured is True
    finally:
        await keyless.aclose()
        await keyed.aclose()


async def check_refused_connection(vendor: Vendor[P], stream: bool) -> None:
    error = await raised_by_own_adapter(vendor, refused_url(), stream=stream)

    assert error.reason is FailureReason.connect_error


async def check_silence_past_the_read_timeout(
    vendor: Vendor[P], fake: FakeUpstream, slow: str, stream: bool
) -> None:
    if slow == "hang":
        fake.set_fault(Fault(kind="hang", hang_seconds=3))
    else:
        fake.reply = Reply(first_chunk_delay=3)

    error = await raised_by_own_adapter(vendor, fake.base_url, stream=stream, read_timeout=0.5)

    assert error.reason is FailureReason.timeout


async def check_error_status(
    vendor: Vendor[P],
    provider: P,
    fake: FakeUpstream,
    status: int,
    retry_after: str | None,
    reason: FailureReason,
    seconds: float | None,
    stream: bool,
) -> None:
    fake.set_fault(Fault(kind="status", status=status, retry_after=retry_after))

    error = await raised(vendor, provider, stream=stream)

    assert error.reason is reason
    assert error.status == status
    assert error.retry_after == seconds


async def check_malformed_body(vendor: Vendor[P], provider: P, fake: FakeUpstream, stream: bool) -> None:
    fake.set_fault(Fault(kind="malformed"))

    error = await raised(vendor, provider, stream=stream)

    assert error.reason is FailureReason.malformed_response


async def check_stream_cut_mid_way(
    vendor: Vendor[P], provider: P, fake: FakeUpstream, cut_after: int
) -> None:
    """`cut_after`: how many chunks of the vendor's stream carry the first two deltas."""
    fake.set_fault(Fault(kind="cut", cut_after=cut_after))

    parts, error = await collect_until_failure(vendor, provider.stream(vendor.request))

    assert parts == FIRST_DELTAS
    assert error.reason is FailureReason.stream_interrupted


async def check_stream_that_stops_early(vendor: Vendor[P], wire: VendorWire, reason: FailureReason) -> None:
    """`wire` streams the first two deltas, then stops early in its own way."""
    upstream = FakeUpstream(wire).start()
    adapter = vendor.adapter(vendor.config(upstream.base_url))
    try:
        parts, error = await collect_until_failure(vendor, adapter.stream(vendor.request))
    finally:
        await adapter.aclose()
        upstream.stop()

    assert parts == FIRST_DELTAS
    assert error.reason is reason
