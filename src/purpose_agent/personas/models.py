"""The personas table: one row per agent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Float, Integer, String, Text, func, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from purpose_agent.db.base import Base
from purpose_agent.vocabulary import PERSONA_ID_PATTERN


class Persona(Base):
    __tablename__ = "personas"
    __table_args__ = (
        CheckConstraint(f"id ~ '{PERSONA_ID_PATTERN}'", name="id_pattern"),
        CheckConstraint("NOT retrieval OR knowledge_category IS NOT NULL", name="retrieval_needs_category"),
    )

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Style and tone, placed after the fixed answering rules in every prompt.
    instructions: Mapped[str] = mapped_column(Text, default="")
    # Off: a plain assistant (style, model settings, limits) that neither searches nor abstains.
    retrieval: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The category it answers from; NULL only for a persona with retrieval off.
    knowledge_category: Mapped[str | None] = mapped_column(String(63), index=True)
    temperature: Mapped[float] = mapped_column(Float, default=0.3)
    max_tokens: Mapped[int] = mapped_column(Integer, default=1024)
    # Provider names tried in order instead of LLM_CHAIN; NULL: the service's chain.
    llm_chain: Mapped[list[str] | None] = mapped_column(ARRAY(String(32)))
    # A model name used on every provider of the chain instead of each one's own; NULL: theirs.
    llm_model: Mapped[str | None] = mapped_column(String(200))
    top_k: Mapped[int] = mapped_column(Integer, default=5)
    # Passages whose similarity to the question is below this are not context; none left: abstain.
    min_score: Mapped[float] = mapped_column(Float, default=0.3)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
