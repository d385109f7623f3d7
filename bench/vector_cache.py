"""Vectors of texts embedded by earlier bench runs, so that a rerun embeds nothing it embedded before."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from purpose_agent.knowledge.embeddings.base import Embedder

FloatArray = npt.NDArray[np.float32]
# Texts embedded between two writes of the cache: an interruption loses little, and writing the
# whole file after every document would cost more than the embedding.
SAVE_EVERY = 512


class VectorCache:
    """Vectors of texts embedded by earlier runs, in one .npz keyed by the SHA-256 of each text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._vectors: dict[str, FloatArray] = {}
        if path.exists():
            with np.load(path) as stored:
                self._vectors = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))

    @staticmethod
    def key(passage: str) -> str:
        return hashlib.sha256(passage.encode()).hexdigest()

    def get(self, passage: str) -> FloatArray | None:
        return self._vectors.get(self.key(passage))

    def put(self, passage: str, vector: Sequence[float]) -> None:
        self._vectors[self.key(passage)] = np.asarray(vector, dtype=np.float32)

    def save(self) -> None:
        if not self._vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        with partial.open("wb") as out:
            np.savez(out, keys=np.array(list(self._vectors)), vectors=np.stack(list(self._vectors.values())))
        # Replaced in one step, so an interrupted run never leaves a truncated cache behind.
        os.replace(partial, self.path)


async def embed_cached(embedder: Embedder, texts: Sequence[str], cache: VectorCache) -> FloatArray:
    missing = list(dict.fromkeys(passage for passage in texts if cache.get(passage) is None))
    if missing:
        print(f"  embedding {len(missing):,} texts not in the cache")
    started = time.monotonic()
    for done in range(0, len(missing), 64):
        batch = missing[done : done + 64]
        for passage, vector in zip(batch, await embedder.embed(batch), strict=True):
            cache.put(passage, vector)
        if (done // 64) % 8 == 7:  # every 512 texts, so an interruption loses little
            cache.save()
            rate = (done + len(batch)) / (time.monotonic() - started)
            print(f"  embedded {done + len(batch):,}/{len(missing):,} ({rate:.1f}/s)")
    if missing:
        cache.save()
    return np.stack([stored for passage in texts if (stored := cache.get(passage)) is not None])


class CachedEmbedder:
    """An embedder that answers from the cache what an earlier run embedded, and the model the rest."""

    def __init__(self, embedder: Embedder, cache: VectorCache) -> None:
        self.inner = embedder
        self.cache = cache
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.max_tokens = embedder.max_tokens
        self._unsaved = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(passage for passage in texts if self.cache.get(passage) is None))
        if missing:
            for passage, vector in zip(missing, await self.inner.embed(missing), strict=True):
                self.cache.put(passage, vector)
            self._unsaved += len(missing)
            if self._unsaved >= SAVE_EVERY:
                self.cache.save()
                self._unsaved = 0
        vectors = [self.cache.get(passage) for passage in texts]
        return [vector.tolist() for vector in vectors if vector is not None]

    async def aclose(self) -> None:
        if self._unsaved:
            self.cache.save()
        await self.inner.aclose()
