"""Embeddings from a vendor's API through its official SDK: OpenAI (or its API elsewhere), Ollama, Gemini.

Each embedder builds its client once and closes it in `aclose`; the SDKs never read the environment
(base URLs and keys are always passed). The SDKs do not retry: a failed call raises `EmbeddingError`
at once and the caller decides (the job queue retries an ingestion; a search reports the failure).
Vectors are normalised here, as not every model returns unit vectors (Gemini's shortened ones do not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import httpx
import httpx2
import ollama
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from google.genai.client import DebugConfig

from purpose_agent.kit.vendor_sdk import NO_KEY, PAYLOAD_ERRORS
from purpose_agent.knowledge.embeddings.base import EmbeddingError

OPENAI_BASE_URL = "https://api.openai.com/v1"
OLLAMA_BASE_URL = "http://127.0.0.1:11434"
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/"
_CHARS_PER_TOKEN = 4  # English prose averages about four characters per token in BPE vocabularies


class _RemoteEmbedder:
    """Batching, checking and normalising shared by the vendor adapters; each supplies `_call`."""

    vendor: ClassVar[str]
    failures: ClassVar[tuple[type[Exception], ...]]
    batch_size: ClassVar[int]  # texts per request, within what the vendor accepts

    def __init__(self, *, model: str, dimension: int, max_tokens: int) -> None:
        if dimension < 1 or max_tokens < 1:
            raise ValueError("dimension and max_tokens must be at least 1")
        self.name = f"{self.vendor}/{model}"
        self.model = model
        self.dimension = dimension
        self.max_tokens = max_tokens

    def count_tokens(self, text: str) -> int:
        """An approximation (characters / 4, rounded up): the vendor's tokenizer is not available offline."""
        return -(-len(text) // _CHARS_PER_TOKEN)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order; any failure raises `EmbeddingError`."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                answer = await self._call(batch)
                vectors += [_unit(vector) for vector in answer]
            except self.failures as error:
                raise EmbeddingError(f"{self.name}: embedding failed: {_reason(error)}") from None
            if len(answer) != len(batch) or any(len(vector) != self.dimension for vector in answer):
                shape = f"{len(answer)} vectors of {sorted({len(vector) for vector in answer})} dimensions"
                raise EmbeddingError(f"{self.name}: {shape} for {len(batch)} texts of {self.dimension}")
        return vectors

    async def _call(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError


class OpenAIEmbedder(_RemoteEmbedder):
    """`POST /v1/embeddings` through `openai.AsyncOpenAI`."""

    vendor = "openai"
    batch_size = 256  # the API takes 2048 inputs and 300,000 tokens per request
    failures = (openai.OpenAIError, httpx2.HTTPError, OSError, *PAYLOAD_ERRORS)

    def __init__(
        self,
        *,
        model: str,
        dimension: int,
        base_url: str | None = None,
        api_key: str | None = None,
        max_tokens: int = 8191,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(model=model, dimension=dimension, max_tokens=max_tokens)
        # The SDK is built on httpx2: it gets an httpx2 client, as our chat adapter does.
        self._http = httpx2.AsyncClient(timeout=httpx2.Timeout(timeout))
        self._client = openai.AsyncOpenAI(
            api_key=api_key or NO_KEY,
            base_url=base_url or OPENAI_BASE_URL,
            max_retries=0,
            http_client=self._http,
        )
        # Only `text-embedding-3` and later accept `dimensions`; older models and most servers refuse it.
        self._ask_dimensions = model.startswith("text-embedding-3")

    async def _call(self, texts: list[str]) -> list[list[float]]:
        response = await self._client.embeddings.create(
            model=self.model,
            input=texts,
            dimensions=self.dimension if self._ask_dimensions else openai.omit,
        )
        return [item.embedding for item in sorted(response.data, key=lambda item: item.index)]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()


class OllamaEmbedder(_RemoteEmbedder):
    """`POST /api/embed` through `ollama.AsyncClient`."""

    vendor = "ollama"
    batch_size = 64
    failures = (ollama.ResponseError, ollama.RequestError, httpx.HTTPError, OSError, *PAYLOAD_ERRORS)

    def __init__(
        self,
        *,
        model: str,
        dimension: int,
        base_url: str | None = None,
        api_key: str | None = None,
        max_tokens: int = 2048,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(model=model, dimension=dimension, max_tokens=max_tokens)
        # Ollama needs no key; one given is for a hosted Ollama behind a bearer token.
        headers = {"authorization": f"Bearer {api_key}"} if api_key else None
        # An explicit host: given None, the SDK would read OLLAMA_HOST.
        self._client = ollama.AsyncClient(host=base_url or OLLAMA_BASE_URL, timeout=timeout, headers=headers)

    async def _call(self, texts: list[str]) -> list[list[float]]:
        response = await self._client.embed(model=self.model, input=texts)
        return [list(vector) for vector in response.embeddings]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()  # type: ignore[no-untyped-call]  # the SDK leaves `close` unannotated


class GeminiEmbedder(_RemoteEmbedder):
    """`batchEmbedContents` of the Gemini Developer API through `google-genai`."""

    vendor = "gemini"
    batch_size = 100  # the most one batchEmbedContents call accepts
    failures = (genai_errors.APIError, httpx.HTTPError, OSError, *PAYLOAD_ERRORS)

    def __init__(
        self,
        *,
        model: str,
        dimension: int,
        api_key: str | None,
        base_url: str | None = None,
        max_tokens: int = 2048,
        timeout: float = 60.0,
    ) -> None:
        if not api_key:
            raise ValueError("Gemini embeddings need an API key")  # the SDK would read GOOGLE_API_KEY
        super().__init__(model=model, dimension=dimension, max_tokens=max_tokens)
        tls = httpx.create_ssl_context()  # one CA bundle load, shared with the sync pool the SDK builds
        # Our own httpx client, so that the SDK cannot pick httpx2 or aiohttp, whose errors we do not catch.
        self._http = httpx.AsyncClient(verify=tls, timeout=timeout)
        self._client = genai.Client(
            vertexai=False,
            api_key=api_key,
            # Explicit, so that GOOGLE_GENAI_CLIENT_MODE cannot switch the client to record or replay.
            debug_config=DebugConfig(client_mode=None, replays_directory=None, replay_id=None),
            http_options=genai_types.HttpOptions(
                base_url=base_url or GEMINI_BASE_URL,
                api_version="v1beta",
                timeout=round(timeout * 1000),
                retry_options=genai_types.HttpRetryOptions(attempts=1),
                httpx_async_client=self._http,
                client_args={"verify": tls},
            ),
        )
        # Gemini's models return 3072 or 768 dimensions unless asked for fewer.
        self._config = genai_types.EmbedContentConfig(output_dimensionality=dimension)

    async def _call(self, texts: list[str]) -> list[list[float]]:
        contents = [genai_types.Content(parts=[genai_types.Part(text=text)]) for text in texts]
        response = await self._client.aio.models.embed_content(
            model=self.model, contents=contents, config=self._config
        )
        return [list(embedding.values or ()) for embedding in response.embeddings or ()]

    async def aclose(self) -> None:
        """Close the SDK's clients and ours."""
        await self._client.aio.aclose()
        self._client.close()
        await self._http.aclose()


def _unit(vector: Sequence[float]) -> list[float]:
    values = [float(value) for value in vector]
    norm = math.sqrt(math.fsum(value * value for value in values))
    return [value / norm for value in values] if norm else values


def _reason(error: Exception) -> str:
    # Only a status or a class name: vendors' messages may echo the key or the text sent.
    status = getattr(error, "status_code", getattr(error, "code", None))  # `code`: google-genai's APIError
    if isinstance(status, int):
        return f"HTTP {status}"
    if "timeout" in type(error).__name__.lower():
        return "timed out"
    if isinstance(error, PAYLOAD_ERRORS):
        return "the answer is not in the vendor's format"
    return f"request failed ({type(error).__name__})"
