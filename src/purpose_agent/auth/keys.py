"""API keys: made once and shown once, stored as a SHA-256 digest, looked up by that digest.

A key is `pa_` and 43 URL-safe characters (256 random bits). Only its digest and a short
visible prefix are stored, so a stolen database holds no usable key. A presented key is
hashed and found by its digest (an index lookup that reveals nothing about other keys), then
compared again in constant time; revoked and expired keys are refused like unknown ones. The
lookup writes nothing: a key's last use is noted apart (`key_use`), so requests with one key never
wait on its row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.auth.models import ApiKey
from purpose_agent.auth.principal import Principal, Quotas, Refusal, Role, Scope
from purpose_agent.auth.scopes import stored_values
from purpose_agent.db.notifications import announce

KEY_PREFIX = "pa_"
VISIBLE_CHARS = 12


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: `secret` is shown to its owner once and never again."""

    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    secret: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# The columns of a key's scope and quotas, as the API names them too.
LIMIT_FIELDS = ("agents", "operations", "requests_per_day", "tokens_per_day", "cost_per_month_usd")


def principal_of(key: ApiKey) -> Principal:
    return Principal(
        id=f"key:{key.id}",
        name=key.name,
        role=Role(key.role),
        scope=Scope.of(key.agents, key.operations),
        quotas=Quotas(key.requests_per_day, key.tokens_per_day, key.cost_per_month_usd),
    )


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    created_by: str | None = None,
    expires_at: datetime | None = None,
    limits: Mapping[str, Any] | None = None,
) -> IssuedKey:
    """A new key of `role` with its scope and quotas (`limits`, by `LIMIT_FIELDS`; unrestricted when
    left out); flushed, not committed. The agents named are not checked here (`scopes`)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=uuid.uuid4(),
        name=name,
        role=role.value,
        prefix=secret[:VISIBLE_CHARS],
        digest=digest(secret),
        created_by=created_by,
        expires_at=expires_at,
        **stored_values(limits or {}, LIMIT_FIELDS),
    )
    session.add(key)
    await session.flush()
    return IssuedKey(key.id, name, role, key.prefix, secret)


async def update_key(session: AsyncSession, key_id: uuid.UUID, changes: Mapping[str, Any]) -> ApiKey | None:
    """Change a key's name, scope or quotas (`changes`: only the fields to change); None when there is no
    such key. Every process drops the key from its cache when this commits."""
    key = await session.get(ApiKey, key_id, with_for_update=True)
    if key is None:
        return None
    for field, value in stored_values(changes, LIMIT_FIELDS).items():
        setattr(key, field, value)
    if changes.get("name") is not None:
        key.name = changes["name"]
    await session.flush()
    await announce(session, f"key:{key.id}")
    return key


def well_formed(secret: str) -> bool:
    """Whether `secret` could be one of our keys at all (checked before any lookup)."""
    return secret.startswith(KEY_PREFIX) and len(secret) <= 200


async def find_key(session: AsyncSession, presented_digest: str) -> ApiKey | None:
    """The key with this digest, live or not; None for an unknown one. Reads only."""
    key = await session.scalar(select(ApiKey).where(ApiKey.digest == presented_digest))
    if key is None or not hmac.compare_digest(key.digest, presented_digest):
        return None
    return key


def refusal_of(key: ApiKey, now: datetime) -> Refusal | None:
    """Why the key is refused at `now` (revoked, expired); None while it is live."""
    if key.revoked_at is not None:
        return Refusal.revoked
    if key.expires_at is not None and key.expires_at <= now:
        return Refusal.expired
    return None


async def find_live_key(session: AsyncSession, presented_digest: str, now: datetime) -> ApiKey | None:
    """The live key with this digest; None for an unknown, revoked or expired one. Reads only."""
    key = await find_key(session, presented_digest)
    return key if key is not None and refusal_of(key, now) is None else None


async def revoke_key(session: AsyncSession, prefix_or_id: str, now: datetime) -> ApiKey | None:
    """Revoke the key with this visible prefix or id; None when there is no such live key."""
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    try:
        query = query.where(ApiKey.id == uuid.UUID(prefix_or_id))
    except ValueError:
        query = query.where(ApiKey.prefix == prefix_or_id)
    found = list(await session.scalars(query))
    if len(found) != 1:
        return None
    found[0].revoked_at = now
    await session.flush()
    await announce(session, f"key:{found[0].id}")  # every process drops it from its cache at commit
    return found[0]


async def any_live_admin_key(session: AsyncSession) -> bool:
    return (
        await session.scalar(
            select(ApiKey.id).where(ApiKey.role == Role.admin.value, ApiKey.revoked_at.is_(None)).limit(1)
        )
        is not None
    )
