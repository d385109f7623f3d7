"""Ollama through the official `ollama` SDK: `/api/chat`, whole or as an NDJSON stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import httpx
import ollama

from purpose_agent.kit.vendor_sdk import PAYLOAD_ERRORS
from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import ConfiguredProvider, ProviderConfig
from purpose_agent.llm.providers.http_errors import (
    HTTPX_TRANSPORT_ERRORS,
    httpx_transport_error,
    malformed,
    status_error,
)
from purpose_agent.llm.types import ChatRequest, Completion, StreamEnd, StreamPart, TextDelta, Usage


class _RateLimited(Exception):
    """A 429 seen by the response hook: the SDK's `ResponseError` keeps the status but drops the headers."""

    def __init__(self, headers: httpx.Headers) -> None:
        super().__init__("rate limited")
        self.headers = headers


async def _catch_rate_limit(response: httpx.Response) -> None:
    # Raised before the SDK sees the response, so that `Retry-After` reaches the router.
    if response.status_code == 429:
        raise _RateLimited(response.headers)


_SDK_FAILURES: tuple[type[Exception], ...] = (
    _RateLimited,
    ollama.ResponseError,
    *HTTPX_TRANSPORT_ERRORS,
    *PAYLOAD_ERRORS,
)


class OllamaProvider(ConfiguredProvider):
    """An Ollama server's chat API; every failure leaves as `ProviderError`."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._client: ollama.AsyncClient | None = None
        if not config.base_url:
            # Build nothing: the SDK would fall back to OLLAMA_HOST or localhost, which nobody asked for.
            return
        # Ollama needs no key; one set in the config is for a hosted Ollama behind a bearer token.
        headers = {"authorization": f"Bearer {config.api_key}"} if config.api_key else None
        most, idle = config.connection_limits()
        self._client = ollama.AsyncClient(
            host=config.base_url,
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            headers=headers,
            limits=httpx.Limits(max_connections=most, max_keepalive_connections=idle),
            event_hooks={"response": [_catch_rate_limit]},
        )

    @property
    def configured(self) -> bool:
        """True when a host is set."""
        return self._client is not None

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer at once."""
        client = self._require(self._client, "host")
        model = self._model_for(request)
        try:
            response = await client.chat(
                model=model, messages=_messages(request), options=_options(request), stream=False
            )
            if response.done is not True or response.message.content is None:
                raise malformed(self.name, "the answer is not marked done")
            return Completion(response.message.content, _usage(response), response.model or model)
        except _SDK_FAILURES as exc:
            raise self._translate(exc, mid_stream=False) from exc

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamPart]:
        """Text deltas in order, then one `StreamEnd`; a stream without its `done` object raises."""
        client = self._require(self._client, "host")
        model = self._model_for(request)
        end: StreamEnd | None = None
        mid_stream = False
        parts: AsyncIterator[ollama.ChatResponse] | None = None
        try:
            parts = await client.chat(
                model=model, messages=_messages(request), options=_options(request), stream=True
            )
            async for part in parts:
                mid_stream = True
                if part.message.content:
                    yield TextDelta(part.message.content)
                if part.done:
                    end = StreamEnd(_usage(part), part.model or model)
        except _SDK_FAILURES as exc:
            raise self._translate(exc, mid_stream=mid_stream) from exc
        finally:
            if isinstance(parts, AsyncGenerator):
                await parts.aclose()  # release the connection when the caller stops early
        if end is None:
            raise ProviderError(self.name, FailureReason.stream_interrupted, "the stream ended without done")
        yield end

    async def aclose(self) -> None:
        """Release the SDK's HTTP client."""
        if self._client is not None:
            await self._client.close()  # type: ignore[no-untyped-call]  # the SDK leaves `close` unannotated

    def _translate(self, exc: Exception, *, mid_stream: bool) -> ProviderError:
        if isinstance(exc, _RateLimited):
            return status_error(self.name, 429, exc.headers)
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code < 0:
                # An `{"error": ...}` line inside a 200 stream, e.g. the model runner died.
                return ProviderError(self.name, FailureReason.server_error, "error event in the stream")
            # Ollama's error text is free-form and may quote the request: only the status goes out.
            return status_error(self.name, exc.status_code)
        if isinstance(exc, HTTPX_TRANSPORT_ERRORS):
            return httpx_transport_error(self.name, exc, mid_stream=mid_stream)
        return malformed(self.name, f"the answer is not Ollama's format ({type(exc).__name__})")


def _messages(request: ChatRequest) -> list[ollama.Message]:
    # Ollama takes system messages in the list, with the same roles as ours.
    return [ollama.Message(role=message.role, content=message.content) for message in request.messages]


def _options(request: ChatRequest) -> ollama.Options:
    return ollama.Options(temperature=request.temperature, num_predict=request.max_tokens)


def _usage(response: ollama.ChatResponse) -> Usage:
    return Usage(prompt_tokens=response.prompt_eval_count or 0, completion_tokens=response.eval_count or 0)
