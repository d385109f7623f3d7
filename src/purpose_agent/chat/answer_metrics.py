"""What each answer adds to the metrics: given, abstained, or not supported by its passages; and the
sessions chat starts. An answer counts once it is complete, whichever way it was asked (REST, stream,
OpenAI-compatible, MCP): they all end in `service.result`."""

from __future__ import annotations

from purpose_agent.chat.schemas import ChatAnswer
from purpose_agent.kit.metrics import (
    CHAT_ABSTENTIONS,
    CHAT_ANSWERS,
    CHAT_SESSIONS_CREATED,
    CHAT_UNGROUNDED,
)


def count_answer(agent_id: str, answer: ChatAnswer) -> None:
    """One complete answer of the agent `agent_id`."""
    CHAT_ANSWERS.labels(agent_id, answer.model_used).inc()
    if answer.abstained:
        CHAT_ABSTENTIONS.labels(agent_id).inc()
    if answer.grounded is False:  # None: not checked (no passages, or quoted)
        CHAT_UNGROUNDED.labels(agent_id, answer.model_used).inc()


def count_new_session() -> None:
    """A conversation's first exchange was stored."""
    CHAT_SESSIONS_CREATED.inc()
