"""What a principal's scope allows: checks that refuse with a 403 naming what is not allowed.

A key or user may be limited to some agents and to some operations (`principal.Scope`). The role
still decides which routes a principal may call at all; the scope narrows what it may do there.
Refusals name the agent, operation or category refused, and what the scope does allow of that kind:
a caller may know its own limits, never what lies beyond them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.auth.errors import OutOfScope, UnknownAgents
from purpose_agent.auth.principal import Operation, Principal
from purpose_agent.kit.metrics import AUTH_FAILURES


class AgentNames(Protocol):
    """Which persona ids exist (personas, injected: auth does not read personas' table)."""

    async def unknown_agents(self, session: AsyncSession, agent_ids: Collection[str]) -> list[str]: ...


async def check_agents_exist(
    session: AsyncSession, directory: AgentNames, agent_ids: Collection[str] | None
) -> None:
    """A scope may name only agents that exist: 422 naming those that do not."""
    if not agent_ids:
        return
    unknown = await directory.unknown_agents(session, agent_ids)
    if unknown:
        names = ", ".join(f"'{agent}'" for agent in unknown)
        raise UnknownAgents(f"There is no agent {names}; GET /api/agents lists them.", unknown_agents=unknown)


def check_operation(principal: Principal, operation: Operation) -> None:
    """403 unless the principal's scope allows `operation`."""
    allowed = principal.scope.operations
    if allowed is None or operation in allowed:
        return
    listed = ", ".join(sorted(allowed)) or "none"
    raise _refused(
        f"This {principal.kind} may not use the operation '{operation.value}'; it may use: {listed}.",
        operation=operation.value,
        allowed_operations=sorted(allowed),
    )


def check_agent(principal: Principal, agent_id: str) -> None:
    """403 unless the principal's scope allows the agent (whether it exists or not: nothing is revealed)."""
    if principal.scope.allows_agent(agent_id):
        return
    raise _refused(
        f"This {principal.kind} may not use the agent '{agent_id}'; GET /api/agents lists those it may.",
        agent=agent_id,
    )


def check_category(principal: Principal, category: str, allowed: Collection[str]) -> None:
    """403 unless `category` is one of the allowed agents' knowledge categories."""
    if category in allowed:
        return
    raise _refused(
        f"This {principal.kind} may search only its agents' knowledge categories, not '{category}'.",
        category=category,
        allowed_categories=sorted(allowed),
    )


def _refused(detail: str, **named: object) -> OutOfScope:
    AUTH_FAILURES.labels("forbidden").inc()  # counted as a role's refusal is
    return OutOfScope(detail, **named)


def stored_values(fields: Mapping[str, Any], columns: Collection[str]) -> dict[str, Any]:
    """The scope (and quota) columns among `fields`, as stored: operations as plain strings."""
    values = {column: fields[column] for column in columns if column in fields}
    if values.get("operations") is not None:
        values["operations"] = [str(operation) for operation in values["operations"]]
    return values
