"""Principals named for a report: an API key by its name, a user by their username."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.auth.models import ApiKey, User


def _ids_of(kind: str, principal_ids: Collection[str]) -> list[uuid.UUID]:
    ids = []
    for principal_id in principal_ids:
        prefix, _, identifier = principal_id.partition(":")
        if prefix == kind:
            try:
                ids.append(uuid.UUID(identifier))
            except ValueError:
                continue  # not one of ours: it has no name here
    return ids


async def principal_names(session: AsyncSession, principal_ids: Collection[str]) -> dict[str, str]:
    """The name of each of `principal_ids` ("key:<uuid>", "user:<uuid>") that still exists, by id."""
    names: dict[str, str] = {}
    if keys := _ids_of("key", principal_ids):
        for key_id, name in await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(keys))):
            names[f"key:{key_id}"] = name
    if users := _ids_of("user", principal_ids):
        for user_id, username in await session.execute(
            select(User.id, User.username).where(User.id.in_(users))
        ):
            names[f"user:{user_id}"] = username
    return names
