"""Anthropic's messages API through its official SDK."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
from anthropic.types import Message as AnthropicMessage
from anthropic.types import MessageParam, RawMessageStreamEvent
from anthropic.types.message_create_params import MessageCreateParamsBase

from purpose_agent.llm.providers.base import ProviderConfig
from purpose_agent.llm.providers.http_errors import malformed
from purpose_agent.llm.providers.http_sdk import EventStream, HttpSdkProvider, SdkErrors
from purpose_agent.llm.types import ChatRequest, Completion, Message, Usage

# `request.temperature` is not sent: the SDK speaks API version 2026-10-21, which rejects sampling
# parameters (temperature, top_p, top_k) on every model, and no longer offers them as arguments.


class AnthropicProvider(HttpSdkProvider[anthropic.AsyncAnthropic, RawMessageStreamEvent]):
    """Messages through `anthropic.AsyncAnthropic`, over one pooled HTTP client."""

    errors = SdkErrors(
        base=anthropic.AnthropicError,
        connection=anthropic.APIConnectionError,
        timeout=anthropic.APITimeoutError,
        # Also an `error` event inside a 200 stream, which the SDK raises with the stream's status.
        status=anthropic.APIStatusError,
        validation=anthropic.APIResponseValidationError,
        answer="message",
    )

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config, anthropic.AsyncAnthropic)

    async def _complete(self, request: ChatRequest, model: str) -> Completion:
        answer = await self._client.messages.create(**_params(request, model))
        if not isinstance(answer, AnthropicMessage):
            # The SDK hands back a 200 body that is not JSON as plain text.
            raise malformed(self.name, "answer is not a message")
        text = "".join(block.text for block in answer.content if block.type == "text")
        usage = Usage(
            prompt_tokens=answer.usage.input_tokens or 0, completion_tokens=answer.usage.output_tokens or 0
        )
        return Completion(text=text, usage=usage, model=answer.model or model)

    async def _open_stream(self, request: ChatRequest, model: str) -> EventStream[RawMessageStreamEvent]:
        return await self._client.messages.create(**_params(request, model), stream=True)

    def _reader(self, model: str) -> _EventReader:
        return _EventReader(model)

    def _error_code(self, error: Exception) -> object:
        return error.type if isinstance(error, anthropic.APIStatusError) else None


class _EventReader:
    """A stream of message events: finished by `message_stop`."""

    last_event = "message_stop"

    def __init__(self, model: str) -> None:
        self.model = model
        self.input_tokens = self.output_tokens = 0
        self.finished = False

    @property
    def usage(self) -> Usage:
        return Usage(prompt_tokens=self.input_tokens, completion_tokens=self.output_tokens)

    def texts(self, event: RawMessageStreamEvent) -> Iterator[str]:
        if event.type == "message_start":
            self.model = event.message.model or self.model
            self.input_tokens = event.message.usage.input_tokens or 0
            self.output_tokens = event.message.usage.output_tokens or 0
        elif event.type == "content_block_delta":
            if event.delta.type == "text_delta" and event.delta.text:
                yield event.delta.text
        elif event.type == "message_delta":
            # Both counts are cumulative: the last one seen is the total.
            self.output_tokens = event.usage.output_tokens or self.output_tokens
            self.input_tokens = event.usage.input_tokens or self.input_tokens
        elif event.type == "message_stop":
            self.finished = True


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
