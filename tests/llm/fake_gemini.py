"""Gemini's wire format for `FakeUpstream`: `generateContent` and `streamGenerateContent?alt=sse`.

The model and the method share one path segment (`/v1beta/models/gemini-x:generateContent`), so a single
`{rest:path}` route takes both and the wire branches on the suffix after the last colon.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from tests.llm.fake_upstream import RecordedRequest, Reply

_PREFIX = "/v1beta/models/"

# Google's canonical status name for each HTTP status, as sent in `error.status`.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _model_and_method(request: RecordedRequest) -> tuple[str, str]:
    model, _, method = request.path.removeprefix(_PREFIX).rpartition(":")
    return model, method


def _candidate(text: str, finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    return candidate


def _usage(reply: Reply, *, final: bool) -> dict[str, int]:
    # Gemini's stream chunks carry running totals; the answer's token count arrives with the last one.
    completion = reply.completion_tokens if final else 0
    return {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": completion,
        "totalTokenCount": reply.prompt_tokens + completion,
    }


# How the fake answers a request that has no fault:
# - `normal`: the reply's text, then `finishReason` and the usage;
# - `unfinished`: every chunk but never a `finishReason` (a stream that closes without saying it is done);
# - `wrong_shape`: valid JSON that is not a GenerateContentResponse;
# - `blocked`: no candidate, and `promptFeedback.blockReason` (Gemini refused the prompt);
# - `error_event`: a stream whose second event is an `{"error": ...}` object (the model overloaded).
Variant = Literal["normal", "unfinished", "wrong_shape", "blocked", "error_event"]


class GeminiWire:
    """The Gemini API (v1beta): whole answers, SSE streams and `{"error": {...}}` bodies."""

    def __init__(self) -> None:
        self.paths = [_PREFIX + "{rest:path}"]
        self.variant: Variant = "normal"

    def is_stream(self, request: RecordedRequest) -> bool:
        return _model_and_method(request)[1] == "streamGenerateContent"

    def whole(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        if self.variant in ("wrong_shape", "blocked"):
            return self._odd(reply)
        return {
            "candidates": [_candidate("".join(reply.chunks), finish=True)],
            "usageMetadata": _usage(reply, final=True),
            "modelVersion": _model_and_method(request)[0],
            "responseId": "fake-response",
        }

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        if self.variant in ("wrong_shape", "blocked"):
            return [f"data: {json.dumps(self._odd(reply))}\r\n\r\n".encode()]
        model = _model_and_method(request)[0]
        frames = []
        for position, text in enumerate(reply.chunks):
            last = position == len(reply.chunks) - 1
            event = {
                "candidates": [_candidate(text, finish=last and self.variant == "normal")],
                "usageMetadata": _usage(reply, final=last),
                "modelVersion": model,
                "responseId": "fake-response",
            }
            frames.append(f"data: {json.dumps(event)}\r\n\r\n".encode())
        if self.variant == "error_event":
            frames[1:] = [f"data: {json.dumps(self.error(503))}\r\n\r\n".encode()]
        return frames

    def stream_media_type(self) -> str:
        return "text/event-stream"

    def error(self, status: int) -> dict[str, Any]:
        name = _STATUS_NAMES.get(status, "UNKNOWN")
        return {"error": {"code": status, "message": f"The fake answers {status}.", "status": name}}

    def _odd(self, reply: Reply) -> dict[str, Any]:
        if self.variant == "blocked":
            return {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": _usage(reply, final=False)}
        return {"unexpected": "shape"}
