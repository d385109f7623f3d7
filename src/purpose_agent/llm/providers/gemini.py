"""Google Gemini through the official `google-genai` SDK (the Gemini Developer API, never Vertex AI)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from google.genai.client import DebugConfig

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

# Passed explicitly so that GOOGLE_GEMINI_BASE_URL in the environment cannot redirect our calls.
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/"
# The SDK's default is v1, and GOOGLE_GENAI_API_VERSION could change it; v1beta is the full API.
_API_VERSION = "v1beta"

_SDK_FAILURES: tuple[type[Exception], ...] = (
    genai_errors.APIError,
    *HTTPX_TRANSPORT_ERRORS,
    *PAYLOAD_ERRORS,
)


class GeminiProvider(ConfiguredProvider):
    """Gemini's `generateContent` API; every failure leaves as `ProviderError`."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._timeout = httpx.Timeout(config.read_timeout, connect=config.connect_timeout)
        self._http: httpx.AsyncClient | None = None
        self._client: genai.Client | None = None
        if not config.api_key:
            # Build nothing: without a key the SDK would fall back to GOOGLE_API_KEY from the environment.
            return
        # One load of the CA bundle, shared with the sync pool the SDK builds alongside (a load is ~50 ms).
        tls = httpx.create_ssl_context()
        # Our own httpx client, so the SDK cannot pick httpx2 or aiohttp (whose errors we would not know).
        most, idle = config.connection_limits()
        self._http = httpx.AsyncClient(
            verify=tls,
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=most, max_keepalive_connections=idle),
            event_hooks={"request": [self._apply_timeouts]},
        )
        self._client = genai.Client(
            vertexai=False,  # never Vertex: no project, location or Application Default Credentials lookup
            api_key=config.api_key,
            # Explicit, so GOOGLE_GENAI_CLIENT_MODE cannot switch the client to record/replay.
            debug_config=DebugConfig(client_mode=None, replays_directory=None, replay_id=None),
            http_options=types.HttpOptions(
                base_url=config.base_url or DEFAULT_BASE_URL,
                api_version=_API_VERSION,
                # In ms, for every phase alike (and sent as X-Server-Timeout); `_apply_timeouts` splits it.
                timeout=round(config.read_timeout * 1000),
                # One attempt: the router owns retries, backoff and failover.
                retry_options=types.HttpRetryOptions(attempts=1),
                httpx_async_client=self._http,
                client_args={"verify": tls},
            ),
        )

    @property
    def configured(self) -> bool:
        """True when an API key is set."""
        return self._client is not None

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer at once."""
        client = self._require(self._client, "API key")
        model = self._model_for(request)
        contents, config = self._prepare(request)
        try:
            response = await client.aio.models.generate_content(model=model, contents=contents, config=config)
            candidate = self._first_candidate(response)
            if candidate is None or (candidate.content is None and candidate.finish_reason is None):
                raise malformed(self.name, "the answer has no candidate")
            usage = _usage(response.usage_metadata)
            return Completion(_text(candidate), usage, response.model_version or model)
        except _SDK_FAILURES as exc:
            raise self._translate(exc, mid_stream=False) from exc

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamPart]:
        """Text deltas in order, then one `StreamEnd`; a stream without a finish reason raises."""
        client = self._require(self._client, "API key")
        model = self._model_for(request)
        contents, config = self._prepare(request)
        usage, answered_by, finished, mid_stream = Usage(), model, False, False
        chunks: AsyncIterator[types.GenerateContentResponse] | None = None
        try:
            chunks = await client.aio.models.generate_content_stream(
                model=model, contents=contents, config=config
            )
            async for chunk in chunks:
                mid_stream = True
                if chunk.usage_metadata is not None:
                    usage = _usage(chunk.usage_metadata)  # running totals: the latest is the answer's
                answered_by = chunk.model_version or answered_by
                candidate = self._first_candidate(chunk)
                if candidate is None:
                    continue
                finished = finished or candidate.finish_reason is not None
                if text := _text(candidate):
                    yield TextDelta(text)
        except _SDK_FAILURES as exc:
            raise self._translate(exc, mid_stream=mid_stream) from exc
        finally:
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()  # release the connection when the caller stops early
        if not finished:
            raise ProviderError(self.name, FailureReason.stream_interrupted, "the stream ended unfinished")
        yield StreamEnd(usage, answered_by)

    async def aclose(self) -> None:
        """Release the SDK's HTTP clients and ours."""
        if self._client is not None:
            await self._client.aio.aclose()  # the SDK's async close; it leaves an injected client to us
            self._client.close()  # the sync pool the SDK builds alongside, never used here
        if self._http is not None:
            await self._http.aclose()

    async def _apply_timeouts(self, request: httpx.Request) -> None:
        # The SDK puts one timeout on every phase; restore the configured connect timeout, usually shorter.
        request.extensions["timeout"] = self._timeout.as_dict()

    def _prepare(self, request: ChatRequest) -> tuple[list[types.Content], types.GenerateContentConfig]:
        system = [types.Part(text=m.content) for m in request.messages if m.role == "system"]
        contents = [
            types.Content(
                role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.content)]
            )
            for m in request.messages
            if m.role != "system"
        ]
        if not contents:
            raise ProviderError(self.name, FailureReason.bad_request, "no user or assistant message")
        config = types.GenerateContentConfig(
            system_instruction=types.Content(parts=system) if system else None,
            temperature=request.temperature,
            max_output_tokens=request.max_tokens,
            # Client-side features that would make more calls than the one the router asked for.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            automatic_continuation=False,
        )
        return contents, config

    def _first_candidate(self, response: types.GenerateContentResponse) -> types.Candidate | None:
        if response.candidates:
            return response.candidates[0]
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            # Gemini refused the prompt itself: asking again unchanged gets the same answer.
            detail = f"prompt blocked ({feedback.block_reason.value})"
            raise ProviderError(self.name, FailureReason.bad_request, detail)
        return None

    def _translate(self, exc: Exception, *, mid_stream: bool) -> ProviderError:
        if isinstance(exc, genai_errors.APIError):
            if not isinstance(exc.code, int):
                return ProviderError(self.name, FailureReason.server_error, "error without a status")
            headers = getattr(exc.response, "headers", None)  # an httpx.Response when the SDK has one
            return status_error(
                self.name, exc.code, headers if isinstance(headers, Mapping) else None, exc.status
            )
        if isinstance(exc, HTTPX_TRANSPORT_ERRORS):
            return httpx_transport_error(self.name, exc, mid_stream=mid_stream)
        return malformed(self.name, f"the answer is not Gemini's format ({type(exc).__name__})")


def _text(candidate: types.Candidate) -> str:
    parts = candidate.content.parts if candidate.content is not None else None
    # Thought summaries are the model's reasoning, not its answer.
    return "".join(part.text for part in parts or () if isinstance(part.text, str) and not part.thought)


def _usage(metadata: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    if metadata is None:
        return Usage()
    # Thinking tokens are billed as output but not counted in candidatesTokenCount.
    completion = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
    return Usage(prompt_tokens=metadata.prompt_token_count or 0, completion_tokens=completion)
