"""Conversations: who owns them, when they expire, and what they remember. Every SQL statement of chat.

A session belongs to one principal and one agent. Its expiry slides to the last message plus the
session lifetime; an expired session is refused (and later deleted by the worker's cleanup job).
The question and its answer are written together, after the answer exists: a failed request
leaves no message behind.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.auth.principal import Principal
from purpose_agent.chat.errors import SessionAgentMismatch, SessionExpired, SessionNotFound
from purpose_agent.chat.models import ChatMessage, ChatSession
from purpose_agent.chat.prompt import Turn, exchanges


async def owned_session(
    session: AsyncSession, session_id: uuid.UUID, principal: Principal, now: datetime
) -> ChatSession:
    """The principal's live session; 404 for another principal's (never revealed) or an expired one."""
    found = await session.get(ChatSession, session_id)
    if found is None or found.principal != principal.id:
        raise SessionNotFound(f"There is no session {session_id}.")
    if found.expires_at <= now:
        raise SessionExpired(
            f"The session {session_id} expired at {found.expires_at.isoformat()}; start a new one."
        )
    return found


async def continued_session(
    session: AsyncSession, session_id: uuid.UUID, principal: Principal, agent_id: str, now: datetime
) -> ChatSession:
    """The session a question continues; 409 when it talks to another agent."""
    found = await owned_session(session, session_id, principal, now)
    if found.agent_id != agent_id:
        raise SessionAgentMismatch(
            f"The session {session_id} talks to the agent '{found.agent_id}', not '{agent_id}'."
        )
    return found


async def messages(session: AsyncSession, session_id: uuid.UUID) -> list[ChatMessage]:
    rows = await session.scalars(
        select(ChatMessage).where(ChatMessage.session_id == session_id).order_by(ChatMessage.id)
    )
    return list(rows)


async def turns(session: AsyncSession, session_id: uuid.UUID) -> list[Turn]:
    """The session's exchanges, oldest first."""
    return [
        Turn(question.content, answer.content, question.token_count + answer.token_count)
        for question, answer in exchanges(await messages(session, session_id))
    ]


class StoredIn(StrEnum):
    """Where an exchange was stored: a session it started, or one it continued."""

    new_session = "new_session"
    existing_session = "existing_session"


# One round trip for the whole exchange: the persona is locked for share (a persona being deleted
# meanwhile either waits for this write or refuses it), the session is created or slid forward, and
# both messages are added. No row comes back when the persona is gone. `xmax = 0` tells an inserted
# session row from one the upsert updated (an updated row carries the updating transaction's id).
_STORE_EXCHANGE = text(
    """
    WITH persona AS (
        SELECT id FROM personas WHERE id = :agent_id FOR SHARE
    ), stored_session AS (
        INSERT INTO chat_sessions (id, principal, agent_id, created_at, last_message_at, expires_at)
        SELECT :session_id, :principal, persona.id, :now, :now, :expires_at FROM persona
        ON CONFLICT (id) DO UPDATE
            SET last_message_at = excluded.last_message_at, expires_at = excluded.expires_at
        RETURNING id, (xmax = 0) AS created
    )
    INSERT INTO chat_messages (session_id, role, content, token_count, details, created_at)
    SELECT stored_session.id, message.role, message.content, message.token_count, message.details, :now
    FROM stored_session, (
        VALUES (1, 'user', CAST(:question AS text), CAST(:question_tokens AS int), CAST(NULL AS jsonb)),
               (2, 'assistant', CAST(:answer AS text), CAST(:answer_tokens AS int), CAST(:details AS jsonb))
    ) AS message (position, role, content, token_count, details)
    ORDER BY message.position
    RETURNING chat_messages.id, (SELECT created FROM stored_session) AS created
    """
)


async def record_exchange(
    session: AsyncSession,
    *,
    session_id: uuid.UUID,
    principal: Principal,
    agent_id: str,
    question: tuple[str, int],
    answer: tuple[str, int],
    details: dict[str, Any],
    now: datetime,
    lifetime: timedelta,
) -> StoredIn | None:
    """Store one question and its answer, creating the session on its first exchange: where it went,
    or None when the agent no longer exists (nothing is stored then)."""
    stored = await session.execute(
        _STORE_EXCHANGE,
        {
            "agent_id": agent_id,
            "session_id": session_id,
            "principal": principal.id,
            "now": now,
            "expires_at": now + lifetime,
            "question": question[0],
            "question_tokens": question[1],
            "answer": answer[0],
            "answer_tokens": answer[1],
            "details": orjson.dumps(details).decode(),
        },
    )
    rows = stored.all()
    if len(rows) != 2:
        return None
    return StoredIn.new_session if rows[0].created else StoredIn.existing_session


async def end_session(
    session: AsyncSession, session_id: uuid.UUID, principal: Principal, now: datetime
) -> None:
    """Delete the principal's session and its messages (an expired one too: it is theirs)."""
    found = await session.get(ChatSession, session_id)
    if found is None or found.principal != principal.id:
        raise SessionNotFound(f"There is no session {session_id}.")
    await session.delete(found)
    await session.flush()


async def delete_expired(session: AsyncSession, now: datetime, batch: int) -> int:
    """Delete up to `batch` expired sessions (their messages go with them); how many went."""
    doomed = (
        select(ChatSession.id)
        .where(ChatSession.expires_at <= now)
        .order_by(ChatSession.expires_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(ChatSession).where(ChatSession.id.in_(doomed.scalar_subquery())))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class PersonaConversations:
    """A persona's sessions, as deleting the persona needs them (`personas.commands.Conversations`)."""

    async def count_live(self, session: AsyncSession, persona_id: str) -> int:
        """How many of the persona's sessions have not expired."""
        statement = select(func.count()).where(
            ChatSession.agent_id == persona_id, ChatSession.expires_at > func.now()
        )
        return int(await session.scalar(statement) or 0)

    async def delete_all(self, session: AsyncSession, persona_id: str) -> None:
        """Delete all of the persona's sessions, live and expired; their messages go with them."""
        await session.execute(delete(ChatSession).where(ChatSession.agent_id == persona_id))
