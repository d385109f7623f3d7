"""REST chat: one answer, a streamed answer, and the session's history."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from purpose_agent.auth.dependencies import ChatPrincipal
from purpose_agent.auth.errors import OutOfScope
from purpose_agent.chat import service, sessions
from purpose_agent.chat.errors import (
    AgentNotFound,
    NoModelAnswered,
    SessionAgentMismatch,
    SessionExpired,
    SessionNotFound,
)
from purpose_agent.chat.schemas import ChatAnswer, ChatAsk, MessageRead, SessionRead
from purpose_agent.chat.service import ChatDeps
from purpose_agent.chat.streaming import answer_stream, rest_events
from purpose_agent.db.engine import SessionDep, SessionmakerDep
from purpose_agent.kit.app_context import context_of
from purpose_agent.kit.clock import NowDep, current_time
from purpose_agent.kit.problems import problem_responses

router = APIRouter(tags=["chat"])

CHAT_PROBLEMS = problem_responses(
    OutOfScope, AgentNotFound, SessionNotFound, SessionExpired, SessionAgentMismatch, NoModelAnswered
)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ChatContext(Protocol):
    """The part of the application context that chat routes read."""

    @property
    def chat(self) -> ChatDeps: ...


def chat_deps(request: Request) -> ChatDeps:
    context: ChatContext = context_of(request)
    return context.chat


ChatDepsDep = Annotated[ChatDeps, Depends(chat_deps)]


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


@router.post("/api/chat", responses=CHAT_PROBLEMS)
async def chat(
    data: ChatAsk,
    request: Request,
    sessionmaker: SessionmakerDep,
    principal: ChatPrincipal,
    deps: ChatDepsDep,
    now: NowDep,
) -> ChatAnswer:
    """Ask an agent; it answers from its knowledge with citations, or says it does not know."""
    return await service.ask(
        sessionmaker,
        deps,
        principal,
        agent_id=data.agent_id,
        question=data.question,
        session_id=data.session_id,
        now=now,
        request_id=request_id(request),
    )


# Each event of a stream as clients parse it (OpenAPI before 3.2 has `schema` describe one event).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["meta", "token", "done", "error"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"type": "object"},
        },
    },
}
STREAM_DESCRIPTION: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `meta`, `token`..., then `done` or `error` (a problem object).",
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
    }
}


@router.post(
    "/api/chat/stream", response_class=StreamingResponse, responses={**STREAM_DESCRIPTION, **CHAT_PROBLEMS}
)
async def chat_stream(
    data: ChatAsk,
    request: Request,
    sessionmaker: SessionmakerDep,
    principal: ChatPrincipal,
    deps: ChatDepsDep,
    now: NowDep,
) -> StreamingResponse:
    """The same answer as Server-Sent Events; problems found before it starts are ordinary responses."""
    prepared = await service.prepare(
        sessionmaker,
        deps,
        principal,
        agent_id=data.agent_id,
        question=data.question,
        session_id=data.session_id,
        now=now,
    )

    async def store(answer: ChatAnswer) -> None:
        await service.remember(sessionmaker, deps, prepared, answer, current_time(request))

    items = answer_stream(
        prepared, deps, request_id=request_id(request), instance=request.url.path, store=store
    )
    events = rest_events(prepared, items)
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get(
    "/api/sessions/{session_id}", responses=problem_responses(OutOfScope, SessionNotFound, SessionExpired)
)
async def get_session(
    session_id: uuid.UUID, session: SessionDep, principal: ChatPrincipal, now: NowDep
) -> SessionRead:
    """The session's messages, oldest first (only its owner sees it)."""
    found = await sessions.owned_session(session, session_id, principal, now)
    return SessionRead(
        id=found.id,
        agent_id=found.agent_id,
        created_at=found.created_at,
        last_message_at=found.last_message_at,
        expires_at=found.expires_at,
        messages=[
            MessageRead(role=m.role, content=m.content, created_at=m.created_at, details=m.details)
            for m in await sessions.messages(session, session_id)
        ],
    )


@router.delete(
    "/api/sessions/{session_id}", status_code=204, responses=problem_responses(OutOfScope, SessionNotFound)
)
async def end_session(
    session_id: uuid.UUID, session: SessionDep, principal: ChatPrincipal, now: NowDep
) -> Response:
    """End the session: it and its messages are deleted."""
    await sessions.end_session(session, session_id, principal, now)
    return Response(status_code=204)
