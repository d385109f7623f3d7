"""Text to vectors for the knowledge base: the `Embedder` interface, the local model, vendors' APIs."""

from purpose_agent.knowledge.embeddings.base import Embedder, EmbeddingError
from purpose_agent.knowledge.embeddings.factory import build_embedder

__all__ = ["Embedder", "EmbeddingError", "build_embedder"]
