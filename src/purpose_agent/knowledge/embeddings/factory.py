"""Builds the configured embedder: the local model by default, or a vendor's API."""

from __future__ import annotations

from typing import Any

from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.vocabulary import EMBEDDER_KINDS

# The model each vendor kind uses when none is named, and its vector length.
_DEFAULT_MODELS = {
    "openai": ("text-embedding-3-small", 1536),
    "ollama": ("nomic-embed-text", 768),
    "gemini": ("gemini-embedding-001", 768),  # asked for 768 of its 3072 dimensions
}


def build_embedder(
    kind: str = "local",
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    dimension: int | None = None,
    max_tokens: int = 256,
    threads: int = 2,
    timeout: float = 60.0,
) -> Embedder:
    """The embedder of `kind`; a vendor kind without `model` gets that vendor's usual embedding model.
    A vendor's call gives up after `timeout` seconds (connecting, and waiting for the answer)."""
    # Each branch imports its own module: ONNX Runtime and the vendor SDKs are slow to import and weigh
    # on memory, and a process needs only one of them.
    if kind == "local":
        from purpose_agent.knowledge.embeddings.local import DIMENSION, NAME, LocalEmbedder

        if model not in (None, NAME, NAME.removeprefix("local/")):
            raise ValueError(f"the local embedder has one model, {NAME}; use another kind for {model!r}")
        if dimension not in (None, DIMENSION):
            raise ValueError(f"the local embedder's vectors have {DIMENSION} dimensions, not {dimension}")
        return LocalEmbedder(max_tokens=max_tokens, threads=threads)
    if kind not in EMBEDDER_KINDS:
        raise ValueError(f"unknown embedder kind {kind!r}; known kinds: {', '.join(EMBEDDER_KINDS)}")
    default_model, default_dimension = _DEFAULT_MODELS[kind]
    if dimension is None:
        if model not in (None, default_model):
            raise ValueError(f"say how many dimensions the vectors of {model!r} have")
        dimension = default_dimension
    model = model or default_model

    from purpose_agent.knowledge.embeddings import remote

    options: dict[str, Any] = {
        "model": model,
        "dimension": dimension,
        "base_url": base_url,
        "api_key": api_key,
        "max_tokens": max_tokens,
        "timeout": timeout,
    }
    if kind == "openai":
        return remote.OpenAIEmbedder(**options)
    if kind == "ollama":
        return remote.OllamaEmbedder(**options)
    return remote.GeminiEmbedder(**options)
