"""The dependencies routes declare: who is calling, and whether that role may do this."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from purpose_agent.auth import keys
from purpose_agent.auth.errors import Forbidden, Unauthenticated
from purpose_agent.auth.models import Role
from purpose_agent.auth.principal import Principal
from purpose_agent.db.engine import SessionDep

MISSING = "Credentials are required: send an API key as X-API-Key or Authorization: Bearer."
INVALID = "The credentials are invalid."


def presented_secret(request: Request) -> str | None:
    """The key from X-API-Key, or from an Authorization: Bearer header."""
    if key := request.headers.get("x-api-key"):
        return key.strip()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def current_principal(request: Request, session: SessionDep) -> Principal:
    secret = presented_secret(request)
    if secret is None:
        raise Unauthenticated(MISSING)
    principal = await keys.authenticate(session, secret, datetime.now(UTC))
    if principal is None:
        raise Unauthenticated(INVALID)
    request.state.principal = principal
    return principal


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits principals of `role` (admins always) and refuses others with 403."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has(role):
            raise Forbidden(f"This needs the {role.value} role.")
        return principal

    return check


UserPrincipal = Annotated[Principal, Depends(require_role(Role.user))]
AdminPrincipal = Annotated[Principal, Depends(require_role(Role.admin))]
