"""Tables of the LLM layer: one row per failed attempt, one row of usage per routed request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from purpose_agent.db.base import Base


class FailoverEvent(Base):
    __tablename__ = "llm_failover_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500))
    status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    # `provider/model` that finally answered, "extractive", or None when nothing did.
    answered_by: Mapped[str | None] = mapped_column(String(264))


class UsageRecord(Base):
    __tablename__ = "llm_usage"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    request_id: Mapped[str] = mapped_column(String(128), index=True)
    model_used: Mapped[str | None] = mapped_column(String(264))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    failed_attempts: Mapped[int] = mapped_column(Integer)
    # Whether the answer was supported by the passages it was given, and how many of its sentences
    # were not; None when it was not checked (no answer, an abstention, a persona without retrieval).
    grounded: Mapped[bool | None] = mapped_column(Boolean)
    unsupported_sentences: Mapped[int | None] = mapped_column(Integer)
    # The persona asked and the principal asking ("key:<uuid>", "user:<uuid>"), when the request came
    # from chat; None for rows written before they were recorded (migration 0011).
    agent_id: Mapped[str | None] = mapped_column(String(63))
    principal: Mapped[str | None] = mapped_column(String(200))
