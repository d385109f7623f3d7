"""OpenAI's chat completions wire format, for `FakeUpstream`: `POST /v1/chat/completions`."""

from __future__ import annotations

import json
from typing import Any

from tests.llm.fake_upstream import RecordedRequest, Reply

_CREATED = 1_700_000_000

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_value"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class OpenAIWire:
    """Answers as api.openai.com does; error messages repeat `echo`, as real ones echo keys and input."""

    def __init__(self, echo: str = "") -> None:
        self.paths = ["/v1/chat/completions"]
        self.echo = echo

    def is_stream(self, request: RecordedRequest) -> bool:
        return request.body.get("stream") is True

    def whole(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": _CREATED,
            "model": request.body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(reply.chunks), "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(reply),
            "system_fingerprint": "fp_fake",
        }

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        model = request.body.get("model", "")
        options = request.body.get("stream_options") or {}
        with_usage = options.get("include_usage") is True
        deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
        deltas += [({"content": text}, None) for text in reply.chunks]
        deltas.append(({}, "stop"))
        chunks = [_chunk(model, [_choice(delta, finish)], with_usage) for delta, finish in deltas]
        if with_usage:
            # The usage arrives alone, in a last chunk with no choices.
            chunks.append(_chunk(model, [], with_usage) | {"usage": _usage(reply)})
        return [_event(chunk) for chunk in chunks] + [b"data: [DONE]\n\n"]

    def stream_media_type(self) -> str:
        return "text/event-stream"

    def error(self, status: int) -> dict[str, Any]:
        kind, code = _ERRORS.get(status, ("server_error", "server_error"))
        message = f"The request failed ({code}). Received: {self.echo}"
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _choice(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _chunk(model: str, choices: list[dict[str, Any]], with_usage: bool) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": choices,
    }
    if with_usage:
        # With `include_usage`, every chunk carries `usage`: null until the last one.
        chunk["usage"] = None
    return chunk


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()
