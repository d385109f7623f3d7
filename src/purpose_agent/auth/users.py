"""Users: created by admins, signing in with a password for short-lived tokens."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.auth.errors import PasswordRejected, UserExists, UserNotFound
from purpose_agent.auth.models import User
from purpose_agent.auth.passwords import WeakPassword, check_strength, hash_password, verify_password
from purpose_agent.auth.principal import Principal, Role, Scope
from purpose_agent.auth.scopes import stored_values
from purpose_agent.db.notifications import announce

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"


def normalise_username(username: str) -> str:
    return unicodedata.normalize("NFC", username).strip().lower()


def principal_of_user(user: User) -> Principal:
    return Principal(
        id=f"user:{user.id}",
        name=user.username,
        role=Role(user.role),
        scope=Scope.of(user.agents, user.operations),
    )


SCOPE_FIELDS = ("agents", "operations")


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: Role,
    scope: Mapping[str, Any] | None = None,
) -> User:
    """A new user, limited to `scope` (agents, operations; unrestricted when left out); 409 when the
    name is taken, 422 for a weak password. Flushed, not committed."""
    username = normalise_username(username)
    try:
        check_strength(password, username)
    except WeakPassword as exc:
        raise PasswordRejected(str(exc)) from None
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserExists(f"A user named '{username}' already exists.")
    user = User(
        id=uuid.uuid4(),
        username=username,
        password_hash=await hash_password(password),
        role=role.value,
        **stored_values(scope or {}, SCOPE_FIELDS),
    )
    session.add(user)
    await session.flush()
    return user


async def sign_in(
    sessionmaker: async_sessionmaker[AsyncSession], username: str, password: str, now: datetime
) -> User | None:
    """The user whose password this is, unless disabled; None otherwise (the same time either way).

    The password is checked with no connection held (argon2 takes tens of milliseconds by design: a
    burst of sign-ins must not hold the pool); the read and the write are short transactions."""
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == normalise_username(username)))
    matches = await verify_password(user.password_hash if user else None, password)
    if user is None or not matches or user.disabled:
        return None
    async with sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == user.id).values(last_login_at=now))
    return user


async def active_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    user = await session.get(User, user_id)
    return user if user is not None and not user.disabled else None


async def list_users(session: AsyncSession, limit: int, offset: int) -> tuple[list[User], int]:
    total = await session.scalar(select(func.count()).select_from(User))
    users = await session.scalars(select(User).order_by(User.username).limit(limit).offset(offset))
    return list(users), int(total or 0)


async def update_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    role: Role | None = None,
    disabled: bool | None = None,
    password: str | None = None,
    scope: Mapping[str, Any] | None = None,
) -> User:
    """Change what is given (`scope`: only the fields to change, null lifting a limit)."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise UserNotFound(f"There is no user with id {user_id}.")
    if password is not None:
        try:
            check_strength(password, user.username)
        except WeakPassword as exc:
            raise PasswordRejected(str(exc)) from None
        user.password_hash = await hash_password(password)
    if role is not None:
        user.role = role.value
    if disabled is not None:
        user.disabled = disabled
    for field, value in stored_values(scope or {}, SCOPE_FIELDS).items():
        setattr(user, field, value)
    await session.flush()
    await announce(session, f"user:{user.id}")  # every process reads the user afresh after commit
    return user
