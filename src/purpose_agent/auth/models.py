"""Tables of authentication: API keys (kept only as digests, with their scope and quotas), users
(argon2id hashes, with their scope), and each key's usage per day."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Integer, String, func
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from purpose_agent.db.base import Base


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # The start of the key, shown in lists so a key can be recognised without revealing it.
    prefix: Mapped[str] = mapped_column(String(32), index=True)
    # SHA-256 of the whole key, hex; the key itself is shown once, at creation, and never stored.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The agents (persona ids) and operations the key is limited to; NULL: every one.
    agents: Mapped[list[str] | None] = mapped_column(ARRAY(String(63)))
    operations: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))
    # Quotas; NULL: none.
    requests_per_day: Mapped[int | None] = mapped_column(Integer)
    tokens_per_day: Mapped[int | None] = mapped_column(BigInteger)
    cost_per_month_usd: Mapped[float | None] = mapped_column(Float)


class User(Base):
    """A person who signs in with a password and gets short-lived tokens."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # argon2id, with its parameters and salt in the encoded string.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # As for keys: NULL is every agent, every operation.
    agents: Mapped[list[str] | None] = mapped_column(ARRAY(String(63)))
    operations: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))


class KeyUsageDay(Base):
    """What one key did on one day (UTC): admitted requests, the tokens of its answers, their cost.

    Added to by the usage recorder in batches; no foreign key, so that a batch is never refused for a
    key it does not see yet (keys are revoked, never deleted)."""

    __tablename__ = "api_key_usage"

    key_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
