"""The caller of a request, as every service sees it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    user = "user"
    admin = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    # Stable and opaque ("key:<uuid>"); sessions are owned by it.
    id: str
    name: str
    role: Role

    def has(self, role: Role) -> bool:
        """Admins may do whatever users may."""
        return self.role is Role.admin or self.role is role
