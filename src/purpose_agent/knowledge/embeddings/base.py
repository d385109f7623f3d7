"""What every embedder offers the knowledge base, and the one error it raises.

    Exception
      └── EmbeddingError   an embedder could not load its model or a vendor refused or failed a call

A message never carries a credential or the embedded text: it is logged and may reach a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class EmbeddingError(Exception):
    """Embedding failed: the model could not load, or a remote call failed or answered nonsense."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Where the vectors come from, e.g. `local/all-MiniLM-L6-v2-int8`; vectors of two names never mix."""
        ...

    @property
    def dimension(self) -> int:
        """The length of every vector."""
        ...

    @property
    def max_tokens(self) -> int:
        """The longest input the model reads, special tokens included; the rest is truncated."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in the model's own tokenizer, special tokens included."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in the order given."""
        ...

    async def aclose(self) -> None:
        """Release the model or the HTTP client."""
        ...
