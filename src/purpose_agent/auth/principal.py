"""The caller of a request, as every service sees it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    user = "user"
    admin = "admin"


class Refusal(StrEnum):
    """Why a presented credential was refused: counted in the metrics, never told to the caller (every
    refusal is the same 401)."""

    invalid = "invalid"  # unknown, malformed, wrongly signed
    expired = "expired"
    revoked = "revoked"  # a revoked key, a disabled or deleted user


@dataclass(frozen=True, slots=True)
class Principal:
    # Stable and opaque ("key:<uuid>"); sessions are owned by it.
    id: str
    name: str
    role: Role

    def has(self, role: Role) -> bool:
        """Admins may do whatever users may."""
        return self.role is Role.admin or self.role is role
