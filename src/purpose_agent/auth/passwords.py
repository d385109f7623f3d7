"""Password hashes: argon2id with the library's current parameters, checked off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
_hasher = PasswordHasher()
# Checked against when the username is unknown, so both cases take the same time.
_DUMMY = _hasher.hash("not a password anybody has")


class WeakPassword(ValueError):
    """The password is too short or too plain to accept."""


def check_strength(password: str, username: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise WeakPassword("a password must not contain the username")
    if len(set(password)) < 5:
        raise WeakPassword("a password needs more than a few different characters")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing hash (unknown user) costs the same time and fails."""

    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)
