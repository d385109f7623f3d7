"""The caller of a request, as every service sees it: who, with which role, limited to what."""

from __future__ import annotations

import uuid
from collections.abc import Collection
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


class Operation(StrEnum):
    """What a key or user may do with agents. `chat`: ask them (`/api/chat`, its stream, the sessions,
    the OpenAI-compatible `/v1`, MCP's ask_agent); `search`: read passages (`/api/knowledge/search`,
    MCP's search_knowledge); `mcp`: reach `/api/mcp` at all (each tool also needs its own operation)."""

    chat = "chat"
    search = "search"
    mcp = "mcp"


@dataclass(frozen=True, slots=True)
class Scope:
    """The agents and operations a principal is limited to; None: no limit of that kind."""

    agents: frozenset[str] | None = None
    operations: frozenset[Operation] | None = None

    @classmethod
    def of(cls, agents: Collection[str] | None, operations: Collection[str] | None) -> Scope:
        """The scope of stored lists (None: unrestricted)."""
        return cls(
            agents=frozenset(agents) if agents is not None else None,
            operations=frozenset(Operation(op) for op in operations) if operations is not None else None,
        )

    def allows(self, operation: Operation) -> bool:
        return self.operations is None or operation in self.operations

    def allows_agent(self, agent_id: str) -> bool:
        return self.agents is None or agent_id in self.agents


@dataclass(frozen=True, slots=True)
class Quotas:
    """A key's limits; None: no limit of that kind."""

    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    cost_per_month_usd: float | None = None


UNRESTRICTED = Scope()
NO_QUOTAS = Quotas()


@dataclass(frozen=True, slots=True)
class Principal:
    # Stable and opaque ("key:<uuid>"); sessions are owned by it.
    id: str
    name: str
    role: Role
    scope: Scope = UNRESTRICTED
    # Counted and enforced only for API keys.
    quotas: Quotas = NO_QUOTAS

    def has(self, role: Role) -> bool:
        """Admins may do whatever users may."""
        return self.role is Role.admin or self.role is role

    @property
    def key_id(self) -> uuid.UUID | None:
        """The API key's id when this principal is one; None for a user or a token."""
        kind, _, identifier = self.id.partition(":")
        return uuid.UUID(identifier) if kind == "key" else None

    @property
    def kind(self) -> str:
        """How a refusal names this principal: "API key", "user" or "token"."""
        return {"key": "API key", "user": "user"}.get(self.id.partition(":")[0], "token")
