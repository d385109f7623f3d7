"""The local provider against the real SmolLM2-135M model: never its exact words, only their properties."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import Provider, ProviderConfig
from purpose_agent.llm.providers.local import LocalProvider
from purpose_agent.llm.types import ChatRequest, Message, StreamEnd, TextDelta

MODEL = "smollm2-135m-instruct"


def make_provider(**options: str) -> LocalProvider:
    return LocalProvider(ProviderConfig(name="local", model=MODEL, options=options))


def ask(question: str = "What is the capital of France?", *, max_tokens: int = 16) -> ChatRequest:
    return ChatRequest(
        messages=(Message("system", "You answer briefly."), Message("user", question)),
        temperature=0,
        max_tokens=max_tokens,
    )


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[LocalProvider]:
    local = make_provider()
    yield local
    await local.aclose()


def test_it_is_a_configured_provider_named_by_its_config(provider: LocalProvider) -> None:
    assert isinstance(provider, Provider)
    assert provider.configured
    assert (provider.name, provider.model) == ("local", MODEL)


async def test_a_whole_answer_has_text_usage_and_the_configured_model(provider: LocalProvider) -> None:
    completion = await provider.complete(ask())

    assert completion.text.strip()
    assert completion.usage.prompt_tokens > 0
    assert 0 < completion.usage.completion_tokens <= 16
    assert completion.model == MODEL


async def test_a_stream_yields_deltas_then_exactly_one_end(provider: LocalProvider) -> None:
    parts = [part async for part in provider.stream(ask())]

    assert len(parts) >= 2
    assert all(isinstance(part, TextDelta) for part in parts[:-1])
    end = parts[-1]
    assert isinstance(end, StreamEnd)
    assert end.model == MODEL
    assert end.usage.completion_tokens > 0
    assert "".join(part.text for part in parts if isinstance(part, TextDelta)).strip()


async def test_temperature_zero_answers_the_same_whole_or_streamed(provider: LocalProvider) -> None:
    first = await provider.complete(ask())
    second = await provider.complete(ask())
    parts = [part async for part in provider.stream(ask())]
    streamed = "".join(part.text for part in parts if isinstance(part, TextDelta))

    assert first.text == second.text == streamed
    # llama.cpp reports no usage when streaming; the provider's own count must match its whole answer.
    end = parts[-1]
    assert isinstance(end, StreamEnd)
    assert end.usage.prompt_tokens == first.usage.prompt_tokens


async def test_closing_a_stream_early_frees_the_model_for_the_next_request(provider: LocalProvider) -> None:
    stream = provider.stream(ask("Write a long story about the sea.", max_tokens=1500))
    first = await anext(stream)
    await stream.aclose()

    assert isinstance(first, TextDelta)
    # Had the worker kept generating up to 1500 tokens (or kept the lock), this would wait ~50 s.
    following = await asyncio.wait_for(provider.complete(ask()), timeout=15)
    assert following.text.strip()


async def test_concurrent_first_requests_load_the_model_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="llama_cpp")  # llama.cpp logs each model load through it
    local = make_provider()
    try:
        assert not local.loaded
        answers = await asyncio.gather(*(local.complete(ask()) for _ in range(3)))

        assert all(answer.text.strip() for answer in answers)
        assert local.loaded
        loads = [r for r in caplog.records if "llama_model_loader: loaded meta data" in r.getMessage()]
        assert len(loads) == 1
    finally:
        await local.aclose()
    assert not local.loaded


async def test_a_missing_model_file_is_unconfigured_and_fails_as_server_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.gguf"
    local = make_provider(model_path=str(missing))

    assert not local.configured
    with pytest.raises(ProviderError) as whole:
        await local.complete(ask())
    with pytest.raises(ProviderError) as streamed:
        _ = [part async for part in local.stream(ask())]

    for error in (whole.value, streamed.value):
        assert error.reason is FailureReason.server_error
        assert error.provider == "local"
        assert str(missing) in error.detail
    await local.aclose()


async def test_a_file_that_is_not_a_model_fails_as_server_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"not a gguf file" * 100)
    local = make_provider(model_path=str(garbage))

    assert local.configured  # the file is there; only loading it tells
    with pytest.raises(ProviderError) as failure:
        await local.complete(ask())

    assert failure.value.reason is FailureReason.server_error
    assert str(garbage) in failure.value.detail
    assert not local.loaded


async def test_a_prompt_longer_than_the_context_is_a_bad_request_that_does_not_echo_it() -> None:
    local = make_provider(n_ctx="64")
    prompt = "secret-marker " * 100
    try:
        with pytest.raises(ProviderError) as whole:
            await local.complete(ask(prompt))
        with pytest.raises(ProviderError) as streamed:
            _ = [part async for part in local.stream(ask(prompt))]
    finally:
        await local.aclose()

    for error in (whole.value, streamed.value):
        assert error.reason is FailureReason.bad_request
        assert "secret-marker" not in str(error)


LONG = "Write the numbers from 1 to 1000, separated by commas."


async def answered_once_free(local: LocalProvider) -> str:
    """The answer to a short question, asked again while the model is still busy (about 5 s at most)."""
    for _ in range(100):
        try:
            return (await local.complete(ask())).text
        except ProviderError as exc:
            if exc.reason is not FailureReason.busy:
                raise
        await asyncio.sleep(0.05)
    pytest.fail("the model stayed busy")


async def test_past_its_queue_the_model_is_busy_at_once_and_a_closed_stream_frees_it() -> None:
    local = make_provider(max_queued="0")
    try:
        first = local.stream(ask(LONG, max_tokens=1500))
        assert isinstance(await anext(first), TextDelta), "one generation is running"
        with pytest.raises(ProviderError) as refused:
            await local.complete(ask())
        assert refused.value.reason is FailureReason.busy
        assert not refused.value.retryable, "the router moves on instead of waiting"
        await first.aclose()  # the caller leaves: the generation stops at its next token
        assert (await answered_once_free(local)).strip()
    finally:
        await local.aclose()


async def test_a_whole_answer_abandoned_at_its_deadline_stops_generating() -> None:
    local = make_provider(max_queued="0")
    try:
        await local.complete(ask())  # loaded
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await local.complete(ask(LONG, max_tokens=1500))
        # Stopped within a token, not after up to 1,500 more (tens of seconds): the next is taken.
        assert (await answered_once_free(local)).strip()
    finally:
        await local.aclose()


async def test_an_answer_stops_at_the_provider_s_cap_whatever_the_request_asks() -> None:
    local = make_provider(max_tokens="24")
    try:
        whole = await local.complete(ask("Write a long story about the sea.", max_tokens=1000))
        parts = [
            part async for part in local.stream(ask("Write a long story about the sea.", max_tokens=1000))
        ]
    finally:
        await local.aclose()

    assert 0 < whole.usage.completion_tokens <= 24
    end = parts[-1]
    assert isinstance(end, StreamEnd)
    assert 0 < end.usage.completion_tokens <= 24


async def test_an_answer_stops_at_the_first_sentence_it_writes_twice(provider: LocalProvider) -> None:
    # Asked to continue a pattern, the model writes the sentence three times when let run.
    pattern = "The kettle is covered for five years."
    question = f"Tell me about the kettle. {pattern} {pattern} {pattern} Continue the pattern."
    completion = await provider.complete(
        ChatRequest(messages=(Message("user", question),), temperature=0, max_tokens=100)
    )

    assert completion.text.count(pattern) == 2
    assert completion.text.rstrip().endswith(pattern), "nothing after the repeat"
