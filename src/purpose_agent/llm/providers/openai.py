"""OpenAI, and any server that speaks its chat completions API (vLLM, OpenRouter, llama.cpp server)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam

from purpose_agent.llm.providers.base import ProviderConfig
from purpose_agent.llm.providers.http_errors import malformed
from purpose_agent.llm.providers.http_sdk import EventStream, HttpSdkProvider, SdkErrors
from purpose_agent.llm.types import ChatRequest, Completion, Message, Usage

# Posted through the SDK's `post`, not `chat.completions.create`: our body is plain JSON already, and
# the typed method's request transform (walking ~40 optional parameters) was half the CPU the
# gateway spent on a request. Authentication, errors and response types stay the SDK's.
COMPLETIONS_PATH = "/chat/completions"


class OpenAIProvider(HttpSdkProvider[openai.AsyncOpenAI, ChatCompletionChunk]):
    """Chat completions through `openai.AsyncOpenAI`, over one pooled HTTP client."""

    errors = SdkErrors(
        base=openai.OpenAIError,
        connection=openai.APIConnectionError,
        timeout=openai.APITimeoutError,
        status=openai.APIStatusError,
        validation=openai.APIResponseValidationError,
        answer="chat completion",
        in_stream=openai.APIError,
    )

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config, openai.AsyncOpenAI)

    async def _complete(self, request: ChatRequest, model: str) -> Completion:
        response = await self._client.post(
            COMPLETIONS_PATH, body=_params(request, model), cast_to=ChatCompletion
        )
        if not isinstance(response, ChatCompletion):
            # The SDK hands back a 200 body that is not JSON as plain text.
            raise malformed(self.name, "answer is not a chat completion")
        text = response.choices[0].message.content or ""
        if not isinstance(text, str):
            raise malformed(self.name, "answer content is not text")
        usage = _usage(response.usage) if response.usage is not None else Usage()
        return Completion(text=text, usage=usage, model=getattr(response, "model", None) or model)

    async def _open_stream(self, request: ChatRequest, model: str) -> EventStream[ChatCompletionChunk]:
        params = {**_params(request, model), "stream": True, "stream_options": {"include_usage": True}}
        return await self._client.post(
            COMPLETIONS_PATH,
            body=params,
            cast_to=ChatCompletion,
            stream=True,
            stream_cls=openai.AsyncStream[ChatCompletionChunk],
        )

    def _reader(self, model: str) -> _ChunkReader:
        return _ChunkReader(model)

    def _error_code(self, error: Exception) -> object:
        return (error.code or error.type) if isinstance(error, openai.APIError) else None


class _ChunkReader:
    """A stream of chat completion chunks: finished once a choice has a finish reason."""

    last_event = "its finish"

    def __init__(self, model: str) -> None:
        self.model = model
        self.usage = Usage()
        self.finished = False

    def texts(self, chunk: ChatCompletionChunk) -> Iterator[str]:
        self.model = getattr(chunk, "model", None) or self.model
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
        for choice in chunk.choices:
            if choice.delta.content:
                yield choice.delta.content
            self.finished = self.finished or choice.finish_reason is not None


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
