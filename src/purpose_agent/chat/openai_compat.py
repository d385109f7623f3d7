"""The OpenAI-compatible surface: personas as models, `POST /v1/chat/completions`, streamed or not.

Any OpenAI client talks to an agent by using its id as the model name and an API key as its
key. The conversation is the client's: the messages it sends before the last user message are
the history, its system messages are added to the persona's style (below the fixed rules), and
nothing is stored. Retrieval runs over the persona's category as for `/api/chat`; the citations
come in an extra `citations` field, `model_used` names the model that answered, and `grounded`,
`unsupported` and `extractive_reason` say what `/api/chat` says of the answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from purpose_agent.auth.dependencies import ChatPrincipal
from purpose_agent.auth.errors import OutOfScope
from purpose_agent.chat import service
from purpose_agent.chat.endpoints import CHAT_PROBLEMS, SSE_HEADERS, ChatDepsDep, request_id
from purpose_agent.chat.prompt import Turn, exchanges
from purpose_agent.chat.schemas import ChatAnswer, Citation
from purpose_agent.chat.streaming import (
    HEARTBEAT,
    Completed,
    Failed,
    KeepAlive,
    StreamItem,
    TextPiece,
    answer_stream,
)
from purpose_agent.db.engine import SessionDep, SessionmakerDep
from purpose_agent.kit.clock import NowDep
from purpose_agent.kit.problems import problem_responses
from purpose_agent.kit.text import clean_multiline
from purpose_agent.personas import queries as persona_queries

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

QUESTION_MAX = 8000


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class InputMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        """The message's text, cleaned as every text the API takes (no control character reaches the
        prompt or the stored session; PostgreSQL refuses a NUL outright)."""
        if isinstance(self.content, list):
            return str(
                clean_multiline("".join(part.text or "" for part in self.content if part.type == "text"))
            )
        return str(clean_multiline(self.content or ""))


class CompletionRequest(BaseModel):
    # Parameters we do not use (top_p, n, tools...) are accepted and ignored, as OpenAI clients send them.
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "support-agent",
                    "messages": [{"role": "user", "content": "What does a 413 error mean?"}],
                    "stream": True,
                }
            ]
        },
    )

    model: Annotated[str, Field(min_length=1, max_length=63, description="The persona's id.")]
    messages: Annotated[list[InputMessage], Field(min_length=1, max_length=200)]
    stream: bool = False
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=32_000)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=32_000)] | None = None

    @model_validator(mode="after")
    def _ends_with_a_question(self) -> CompletionRequest:
        last = self.messages[-1]
        if last.role != "user" or not last.text.strip():
            raise ValueError("the last message must be a non-empty user message: the question")
        if len(last.text.strip()) > QUESTION_MAX:
            raise ValueError(f"the question is longer than {QUESTION_MAX} characters")
        return self

    def history(self, count_tokens: Callable[[str], int]) -> list[Turn]:
        """The earlier exchanges, measured in the embedder's tokens as stored sessions are."""
        return [
            Turn(question.text, answer.text, count_tokens(question.text) + count_tokens(answer.text))
            for question, answer in exchanges(self.messages[:-1])
        ]

    def caller_instructions(self) -> str:
        return "\n".join(m.text for m in self.messages[:-1] if m.role in {"system", "developer"})


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "purpose-agent"
    name: str
    description: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


@router.get("/models", responses=problem_responses(OutOfScope))
async def list_models(session: SessionDep, principal: ChatPrincipal) -> ModelList:
    """Every persona the caller may use (those of its scope), as a model an OpenAI client can name."""
    personas = [p for p in await persona_queries.list_personas(session) if principal.scope.allows_agent(p.id)]
    return ModelList(
        data=[
            ModelCard(id=p.id, created=int(p.created_at.timestamp()), name=p.name, description=p.description)
            for p in personas
        ]
    )


COMPLETION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A chat completion; with `stream: true`, its chunks as Server-Sent Events.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            # Each event's data is a chunk's JSON, and the last one the text [DONE].
            "text/event-stream": {
                "schema": {"type": "object", "required": ["data"], "properties": {"data": {"type": "string"}}}
            },
        },
    },
    **CHAT_PROBLEMS,
}


@router.post("/chat/completions", responses=COMPLETION_RESPONSES, response_model=None)
async def chat_completions(
    data: CompletionRequest,
    request: Request,
    sessionmaker: SessionmakerDep,
    principal: ChatPrincipal,
    deps: ChatDepsDep,
    now: NowDep,
) -> dict[str, Any] | StreamingResponse:
    """An answer from the persona named by `model`, in OpenAI's chat completion shape."""
    prepared = await service.prepare(
        sessionmaker,
        deps,
        principal,
        agent_id=data.model,
        question=data.messages[-1].text.strip(),
        now=now,
        history=data.history(deps.embedder.count_tokens),
        caller_instructions=data.caller_instructions(),
        temperature=data.temperature,
        max_tokens=data.max_completion_tokens or data.max_tokens,
    )
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not data.stream:
        answer = await service.answered(
            deps, prepared, await service.complete(deps, prepared, request_id(request))
        )
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": data.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(answer),
            **_extras(answer),
        }
    items = answer_stream(prepared, deps, request_id=request_id(request), instance=request.url.path)
    first = {"citations": [_dump(c) for c in service.all_citations(prepared.hits)]}
    chunks = _chunks(items, completion_id, created, data.model, first)
    return StreamingResponse(chunks, media_type="text/event-stream", headers=SSE_HEADERS)


async def _chunks(
    items: AsyncIterator[StreamItem], completion_id: str, created: int, model: str, first: dict[str, Any]
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    yield chunk({"role": "assistant", "content": ""}, **first)
    async for item in items:
        if isinstance(item, KeepAlive):
            yield HEARTBEAT
        elif isinstance(item, TextPiece):
            yield chunk({"content": item.text})
        elif isinstance(item, Failed):
            problem = item.problem
            error = {"message": problem["detail"], "type": problem["type"], "code": problem["status"]}
            yield b"data: " + orjson.dumps({"error": error, "problem": problem}) + b"\n\n"
            break
        elif isinstance(item, Completed):
            yield chunk({}, "stop", usage=_usage(item.answer), **_extras(item.answer))
    yield b"data: [DONE]\n\n"


def _usage(answer: ChatAnswer) -> dict[str, int]:
    prompt, completion = answer.usage.prompt_tokens, answer.usage.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _extras(answer: ChatAnswer) -> dict[str, Any]:
    return {
        "citations": [_dump(c) for c in answer.citations],
        "model_used": answer.model_used,
        "abstained": answer.abstained,
        "grounded": answer.grounded,
        "unsupported": answer.unsupported,
        "extractive_reason": answer.extractive_reason,
    }


def _dump(citation: Citation) -> dict[str, Any]:
    return citation.model_dump(mode="json")
