"""Personas and chat sessions for the tests, and hypothesis strategies of persona fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.chat.models import ChatMessage, ChatSession
from purpose_agent.vocabulary import KNOWN_PROVIDERS


def persona_body(persona_id: str = "support-bot", **fields: Any) -> dict[str, Any]:
    """A valid persona as the API and the personas file take it; `fields` override or add."""
    return {
        "id": persona_id,
        "name": "Support Bot",
        "description": "Answers questions about the kettle.",
        "instructions": "Be brief and friendly.",
        "knowledge_category": "support",
        "temperature": 0.2,
        "max_tokens": 512,
        **fields,
    }


async def create_chat_session(session: AsyncSession, agent_id: str, *, expires_in: timedelta) -> uuid.UUID:
    """A session with one message, talking to `agent_id`, that expires `expires_in` from now."""
    chat = ChatSession(principal="someone", agent_id=agent_id, expires_at=datetime.now(UTC) + expires_in)
    session.add(chat)
    await session.flush()
    session.add(ChatMessage(session_id=chat.id, role="user", content="Hello?", token_count=2))
    await session.flush()
    return chat.id


persona_ids = st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,62}\Z")
category_names = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")
# Any text: control characters, combining marks, odd spaces; what is not valid is filtered out.
any_text = st.text(max_size=60) | st.text(alphabet=st.characters(codec="utf-8"), max_size=300)

_required = {
    "id": persona_ids,
    "name": st.text(min_size=1, max_size=60),
    "knowledge_category": category_names,
}
_optional = {
    "description": any_text,
    "instructions": any_text,
    "temperature": st.floats(0, 2) | st.integers(0, 2),
    "max_tokens": st.integers(1, 32_000),
    "llm_chain": st.none() | st.lists(st.sampled_from(KNOWN_PROVIDERS), min_size=1, unique=True),
    "llm_model": st.none() | st.text(min_size=1, max_size=40),
    "top_k": st.integers(1, 50),
    "min_score": st.floats(-1, 1) | st.integers(-1, 1),
}
# A persona as someone might write it in a file, before validation (fields left out take defaults):
# one that answers from its knowledge, or a plain assistant with retrieval off (a category or none).
raw_personas = st.fixed_dictionaries(_required, optional=_optional) | st.fixed_dictionaries(
    {
        "id": persona_ids,
        "name": st.text(min_size=1, max_size=60),
        "retrieval": st.just(False),
    },
    optional={**_optional, "knowledge_category": category_names},
)

# Values that no persona may hold, by field.
INVALID_VALUES: dict[str, list[Any]] = {
    "id": ["", "a", "-ab", "Ab", "a_b", "a" * 64, 7, None],
    "name": ["", "   ", "\x00\x01", "n" * 201, 5, None],
    "description": ["d" * 2001, 5, None],
    "instructions": ["i" * 8001, ["be nice"], None],
    "knowledge_category": ["", "Bad", "a b", "c" * 64, 7],
    "retrieval": ["false", 0, None],
    "temperature": [-0.1, 2.5, 3, "0.5", True, None, float("nan")],
    "max_tokens": [0, 32_001, -5, 1.5, "10", True, None],
    "llm_chain": [[], ["nope"], ["openai", "openai"], "openai", [1]],
    "llm_model": ["", "  ", "m" * 201, 5],
    "top_k": [0, 51, 2.0, "5", None],
    "min_score": [-1.5, 1.01, "0.3", None],
}
