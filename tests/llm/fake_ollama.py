"""Ollama's wire format for `FakeUpstream`: `POST /api/chat`, whole (`stream: false`) or as NDJSON."""

from __future__ import annotations

import json
from typing import Any, Literal

from tests.llm.fake_upstream import RecordedRequest, Reply

_CREATED_AT = "2025-01-01T00:00:00.000000Z"

# How the fake answers a request that has no fault:
# - `normal`: the reply's text, then the `done: true` object with the usage;
# - `unfinished`: every chunk but never `done: true` (a stream that closes without saying it is done);
# - `wrong_shape`: valid JSON objects that are not chat responses;
# - `error_event`: a stream whose second line is `{"error": ...}` (the model runner died mid-answer).
Variant = Literal["normal", "unfinished", "wrong_shape", "error_event"]
_WRONG_SHAPE = {"unexpected": "shape"}


class OllamaWire:
    """The Ollama API: whole answers, NDJSON streams ended by `done: true`, `{"error": ...}` bodies."""

    def __init__(self) -> None:
        self.paths = ["/api/chat"]
        self.variant: Variant = "normal"

    def is_stream(self, request: RecordedRequest) -> bool:
        # Ollama streams unless told otherwise.
        return bool(request.body.get("stream", True))

    def whole(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        if self.variant == "wrong_shape":
            return _WRONG_SHAPE
        return self._done(request, reply, "".join(reply.chunks))

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        if self.variant == "wrong_shape":
            return [json.dumps(_WRONG_SHAPE).encode() + b"\n"]
        lines = [
            {
                "model": request.body.get("model"),
                "created_at": _CREATED_AT,
                "message": {"role": "assistant", "content": text},
                "done": False,
            }
            for text in reply.chunks
        ]
        if self.variant == "normal":
            lines.append(self._done(request, reply, ""))
        if self.variant == "error_event":
            lines[1:] = [{"error": "model runner has unexpectedly stopped"}]
        return [json.dumps(line).encode() + b"\n" for line in lines]

    def stream_media_type(self) -> str:
        return "application/x-ndjson"

    def error(self, status: int) -> dict[str, Any]:
        return {"error": f"the fake answers {status}"}

    def _done(self, request: RecordedRequest, reply: Reply, content: str) -> dict[str, Any]:
        return {
            "model": request.body.get("model"),
            "created_at": _CREATED_AT,
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "load_duration": 100_000,
            "prompt_eval_count": reply.prompt_tokens,
            "prompt_eval_duration": 200_000,
            "eval_count": reply.completion_tokens,
            "eval_duration": 700_000,
        }
