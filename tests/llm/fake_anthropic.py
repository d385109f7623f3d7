"""Anthropic's messages wire format, for `FakeUpstream`: `POST /v1/messages`."""

from __future__ import annotations

import json
from typing import Any

from tests.llm.fake_upstream import RecordedRequest, Reply

_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class AnthropicWire:
    """Answers as api.anthropic.com does; error messages repeat `echo`, as real ones may echo input."""

    def __init__(self, echo: str = "") -> None:
        self.paths = ["/v1/messages"]
        self.echo = echo

    def is_stream(self, request: RecordedRequest) -> bool:
        return request.body.get("stream") is True

    def whole(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        return _message(
            request,
            content=[{"type": "text", "text": "".join(reply.chunks)}],
            stop_reason="end_turn",
            usage={"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
        )

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        # The message starts empty; its counts so far are the input and a first output token.
        start = _message(
            request,
            content=[],
            stop_reason=None,
            usage={"input_tokens": reply.prompt_tokens, "output_tokens": 1},
        )
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        events += [
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            )
            for text in reply.chunks
        ]
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": reply.completion_tokens},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]

    def stream_media_type(self) -> str:
        return "text/event-stream"

    def error(self, status: int) -> dict[str, Any]:
        kind = _ERRORS.get(status, "api_error")
        message = f"The request failed ({kind}). Received: {self.echo}"
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}


def _message(
    request: RecordedRequest, *, content: list[dict[str, Any]], stop_reason: str | None, usage: dict[str, int]
) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": request.body.get("model", ""),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }
