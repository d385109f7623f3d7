"""OpenAI, and any server that speaks its chat completions API (vLLM, OpenRouter, llama.cpp server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import ConfiguredProvider, ProviderConfig
from purpose_agent.llm.providers.http_errors import (
    HTTPX2_TRANSPORT_ERRORS,
    PAYLOAD_ERRORS,
    httpx2_connection_error,
    httpx2_payload_or_transport_error,
    is_event_stream,
    malformed,
    status_error,
)
from purpose_agent.llm.types import ChatRequest, Completion, Message, StreamEnd, StreamPart, TextDelta, Usage

# The SDK refuses to start without a key, and given None it reads OPENAI_API_KEY from the environment,
# which only our settings may read. A provider without a key reports `configured == False`.
_NO_KEY = "not-configured"

_CAUGHT: tuple[type[Exception], ...] = (openai.OpenAIError, *HTTPX2_TRANSPORT_ERRORS, *PAYLOAD_ERRORS)


# Posted through the SDK's `post`, not `chat.completions.create`: our body is plain JSON already, and
# the typed method's request transform (walking ~40 optional parameters) was half the CPU the
# gateway spent on a request. Authentication, errors and response types stay the SDK's.
COMPLETIONS_PATH = "/chat/completions"


class OpenAIProvider(ConfiguredProvider):
    """Chat completions through `openai.AsyncOpenAI`, over one pooled HTTP client."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        timeout = httpx2.Timeout(config.read_timeout, connect=config.connect_timeout)
        most, idle = config.connection_limits()
        limits = httpx2.Limits(max_connections=most, max_keepalive_connections=idle)
        self._http = httpx2.AsyncClient(timeout=timeout, limits=limits)
        self._client = openai.AsyncOpenAI(
            api_key=config.api_key or _NO_KEY,
            base_url=config.base_url,
            timeout=timeout,
            max_retries=0,  # the router retries, with its own backoff and deadline
            http_client=self._http,
        )

    @property
    def configured(self) -> bool:
        """True when an API key is set."""
        return bool(self._config.api_key)

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer at once."""
        model = self._model_for(request)
        try:
            response = await self._client.post(
                COMPLETIONS_PATH, body=_params(request, model), cast_to=ChatCompletion
            )
            return self._read_completion(response, model)
        except _CAUGHT as error:
            raise self._failure(error, mid_stream=False) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamPart]:
        """Text deltas in order, then one `StreamEnd`; a stream cut before its finish raises."""
        model = self._model_for(request)
        try:
            params = {**_params(request, model), "stream": True, "stream_options": {"include_usage": True}}
            chunks = await self._client.post(
                COMPLETIONS_PATH,
                body=params,
                cast_to=ChatCompletion,
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
        except _CAUGHT as error:
            raise self._failure(error, mid_stream=False) from None
        async with chunks:
            if not is_event_stream(chunks.response.headers):
                raise malformed(self.name, "stream answer is not an event stream")
            finished = False
            usage = Usage()
            try:
                async for chunk in chunks:
                    model = getattr(chunk, "model", None) or model
                    if chunk.usage is not None:
                        usage = _usage(chunk.usage)
                    for choice in chunk.choices:
                        if choice.delta.content:
                            yield TextDelta(choice.delta.content)
                        finished = finished or choice.finish_reason is not None
            except _CAUGHT as error:
                raise self._failure(error, mid_stream=True) from None
        if not finished:
            # The body ended without a finish reason: a proxy or the server stopped early.
            raise ProviderError(self.name, FailureReason.stream_interrupted, "stream ended before its finish")
        yield StreamEnd(usage=usage, model=model)

    async def aclose(self) -> None:
        """Close the pooled HTTP client."""
        await self._http.aclose()

    def _read_completion(self, response: ChatCompletion, model: str) -> Completion:
        if not isinstance(response, ChatCompletion):
            # The SDK hands back a 200 body that is not JSON as plain text.
            raise malformed(self.name, "answer is not a chat completion")
        text = response.choices[0].message.content or ""
        if not isinstance(text, str):
            raise malformed(self.name, "answer content is not text")
        usage = _usage(response.usage) if response.usage is not None else Usage()
        return Completion(text=text, usage=usage, model=getattr(response, "model", None) or model)

    def _failure(self, error: Exception, *, mid_stream: bool) -> ProviderError:
        name = self.name
        if isinstance(error, openai.APITimeoutError):
            return ProviderError(name, FailureReason.timeout, "request timed out")
        if isinstance(error, openai.APIConnectionError):
            return httpx2_connection_error(name, error, mid_stream=mid_stream)
        if isinstance(error, openai.APIStatusError):
            return status_error(name, error.status_code, error.response.headers, error.code or error.type)
        if isinstance(error, openai.APIResponseValidationError):
            return malformed(name, "answer does not match the chat completion schema")
        if isinstance(error, openai.APIError):
            # An error object sent inside a 200 stream.
            return status_error(name, 200, {}, error.code or error.type)
        if isinstance(error, openai.OpenAIError):
            # The SDK refused the request before sending it.
            return ProviderError(name, FailureReason.bad_request, type(error).__name__)
        return httpx2_payload_or_transport_error(name, error, mid_stream=mid_stream)


def _params(request: ChatRequest, model: str) -> dict[str, object]:
    """What a whole and a streamed call both send."""
    return {
        "model": model,
        "messages": [_message(message) for message in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }


def _message(message: Message) -> ChatCompletionMessageParam:
    # One literal per role: the SDK types each role's message as its own TypedDict.
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "user":
        return {"role": "user", "content": message.content}
    return {"role": "assistant", "content": message.content}


def _usage(usage: CompletionUsage) -> Usage:
    # OpenAI-compatible servers sometimes send null counts; they count as 0.
    return Usage(
        prompt_tokens=getattr(usage, "prompt_tokens", None) or 0,
        completion_tokens=getattr(usage, "completion_tokens", None) or 0,
    )
