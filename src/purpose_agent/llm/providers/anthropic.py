"""Anthropic's messages API through its official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import httpx2
from anthropic.types import Message as AnthropicMessage
from anthropic.types import MessageParam
from anthropic.types.message_create_params import MessageCreateParamsBase

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

# Given no key, the SDK looks for one in the environment and in profile files on disk; only our
# settings may read those. A provider without a key reports `configured == False`.
_NO_KEY = "not-configured"

# `request.temperature` is not sent: the SDK speaks API version 2026-10-21, which rejects sampling
# parameters (temperature, top_p, top_k) on every model, and no longer offers them as arguments.

_CAUGHT: tuple[type[Exception], ...] = (anthropic.AnthropicError, *HTTPX2_TRANSPORT_ERRORS, *PAYLOAD_ERRORS)


class AnthropicProvider(ConfiguredProvider):
    """Messages through `anthropic.AsyncAnthropic`, over one pooled HTTP client."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        timeout = httpx2.Timeout(config.read_timeout, connect=config.connect_timeout)
        most, idle = config.connection_limits()
        limits = httpx2.Limits(max_connections=most, max_keepalive_connections=idle)
        self._http = httpx2.AsyncClient(timeout=timeout, limits=limits)
        self._client = anthropic.AsyncAnthropic(
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
            answer = await self._client.messages.create(**_params(request, model))
            return self._read_message(answer, model)
        except _CAUGHT as error:
            raise self._failure(error, mid_stream=False) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamPart]:
        """Text deltas in order, then one `StreamEnd`; a stream cut before `message_stop` raises."""
        model = self._model_for(request)
        try:
            events = await self._client.messages.create(**_params(request, model), stream=True)
        except _CAUGHT as error:
            raise self._failure(error, mid_stream=False) from None
        async with events:
            if not is_event_stream(events.response.headers):
                raise malformed(self.name, "stream answer is not an event stream")
            stopped = False
            input_tokens = output_tokens = 0
            try:
                async for event in events:
                    if event.type == "message_start":
                        model = event.message.model or model
                        input_tokens = event.message.usage.input_tokens or 0
                        output_tokens = event.message.usage.output_tokens or 0
                    elif event.type == "content_block_delta":
                        if event.delta.type == "text_delta" and event.delta.text:
                            yield TextDelta(event.delta.text)
                    elif event.type == "message_delta":
                        # Both counts are cumulative: the last one seen is the total.
                        output_tokens = event.usage.output_tokens or output_tokens
                        input_tokens = event.usage.input_tokens or input_tokens
                    elif event.type == "message_stop":
                        stopped = True
            except _CAUGHT as error:
                raise self._failure(error, mid_stream=True) from None
        if not stopped:
            # The body ended without `message_stop`: a proxy or the server stopped early.
            raise ProviderError(
                self.name, FailureReason.stream_interrupted, "stream ended before message_stop"
            )
        yield StreamEnd(usage=Usage(prompt_tokens=input_tokens, completion_tokens=output_tokens), model=model)

    async def aclose(self) -> None:
        """Close the pooled HTTP client."""
        await self._http.aclose()

    def _read_message(self, answer: AnthropicMessage, model: str) -> Completion:
        if not isinstance(answer, AnthropicMessage):
            # The SDK hands back a 200 body that is not JSON as plain text.
            raise malformed(self.name, "answer is not a message")
        text = "".join(block.text for block in answer.content if block.type == "text")
        usage = Usage(
            prompt_tokens=answer.usage.input_tokens or 0, completion_tokens=answer.usage.output_tokens or 0
        )
        return Completion(text=text, usage=usage, model=answer.model or model)

    def _failure(self, error: Exception, *, mid_stream: bool) -> ProviderError:
        name = self.name
        if isinstance(error, anthropic.APITimeoutError):
            return ProviderError(name, FailureReason.timeout, "request timed out")
        if isinstance(error, anthropic.APIConnectionError):
            return httpx2_connection_error(name, error, mid_stream=mid_stream)
        if isinstance(error, anthropic.APIStatusError):
            # Also an `error` event inside a 200 stream, which the SDK raises with the stream's status.
            return status_error(name, error.status_code, error.response.headers, error.type)
        if isinstance(error, anthropic.APIResponseValidationError):
            return malformed(name, "answer does not match the message schema")
        if isinstance(error, anthropic.AnthropicError):
            # The SDK refused the request before sending it.
            return ProviderError(name, FailureReason.bad_request, type(error).__name__)
        return httpx2_payload_or_transport_error(name, error, mid_stream=mid_stream)


def _params(request: ChatRequest, model: str) -> MessageCreateParamsBase:
    """What a whole and a streamed call both send; `system` only when there is a system prompt."""
    system, messages = _split(request.messages)
    params: MessageCreateParamsBase = {"model": model, "messages": messages, "max_tokens": request.max_tokens}
    if system:
        params["system"] = system
    return params


def _split(messages: tuple[Message, ...]) -> tuple[str, list[MessageParam]]:
    """The system prompt (every system message, joined by blank lines) and the conversation."""
    system = "\n\n".join(message.content for message in messages if message.role == "system")
    turns: list[MessageParam] = []
    for message in messages:
        # One literal per role: the SDK types each role's message as its own TypedDict.
        if message.role == "user":
            turns.append({"role": "user", "content": message.content})
        elif message.role == "assistant":
            turns.append({"role": "assistant", "content": message.content})
    return system, turns
