"""Shapes of the chat API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from purpose_agent.chat.extractive import ExtractiveReason
from purpose_agent.kit.text import MULTI_LINE, sent_at_most
from purpose_agent.llm.errors import Attempt
from purpose_agent.vocabulary import PERSONA_ID_PATTERN

AgentId = Annotated[str, StringConstraints(pattern=PERSONA_ID_PATTERN)]
Question = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=8000),
    MULTI_LINE,
    sent_at_most(8000),
]


class ChatAsk(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"agent_id": "support-agent", "question": "What does a 413 error mean?"}]
        }
    )

    agent_id: AgentId
    question: Question
    session_id: uuid.UUID | None = None


class Citation(BaseModel):
    index: int
    document_id: uuid.UUID
    chunk_id: int
    source: str
    page: int | None
    heading: str
    snippet: str
    score: float


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class Failover(BaseModel):
    """One failed attempt at a provider on the way to an answer (or to a 503 listing them)."""

    provider: str
    model: str
    reason: str = Field(description="connect_error, timeout, rate_limited, server_error, circuit_open, ...")
    detail: str
    status: int | None = Field(description="The provider's HTTP status, when it answered one.")
    latency_ms: float

    @classmethod
    def of(cls, attempt: Attempt) -> Failover:
        return cls(
            provider=attempt.provider,
            model=attempt.model,
            reason=attempt.reason.value,
            detail=attempt.detail,
            status=attempt.status,
            latency_ms=attempt.latency_ms,
        )


class ChatAnswer(BaseModel):
    answer: str
    citations: list[Citation]
    # provider/model that answered, "extractive" (sentences of the passages quoted: see
    # extractive_reason), or "none" (the knowledge holds nothing on the question: no model was asked).
    model_used: str
    session_id: uuid.UUID
    usage: ChatUsage
    latency_ms: float
    abstained: bool = False
    grounded: bool | None = Field(
        default=None,
        description="Whether every statement of the answer is supported by the passages it was given; "
        "null when not checked (an abstention, a persona without retrieval).",
    )
    unsupported: list[str] = Field(
        default_factory=list, description="The answer's sentences the passages do not support."
    )
    extractive_reason: ExtractiveReason | None = Field(
        default=None,
        description='Why the answer quotes the passages (model_used "extractive"): "default" (no remote '
        'model configured), "models_failed", or "ungrounded" (the built-in model\'s answer was not '
        "supported by the passages).",
    )
    failovers: list[Failover] = Field(
        default_factory=list,
        description="The failed attempts before this answer, in order: a provider that failed and was "
        "retried or left for the next one of the chain; empty when the first call answered.",
    )


class MessageRead(BaseModel):
    role: str
    content: str
    created_at: datetime
    details: dict[str, Any] | None = Field(
        default=None,
        description=(
            "For answers: citations, model_used, usage, grounded, unsupported and extractive_reason, "
            "as the answer reported them (answers stored before a field existed lack it)."
        ),
    )


class SessionRead(BaseModel):
    id: uuid.UUID
    agent_id: str
    created_at: datetime
    last_message_at: datetime
    expires_at: datetime
    messages: list[MessageRead]
