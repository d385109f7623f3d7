"""The dependencies routes declare: who is calling, whether that role may do this, and whether the
caller's scope allows the operation.

A caller presents an API key (X-API-Key, or Authorization: Bearer pa_...) or a JWT (Authorization:
Bearer). Whatever is wrong with either, the answer is the same 401 "invalid credentials". A key's
request is then admitted against its quotas (429 once one is used up), and counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Protocol

import structlog
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.audit import service as audit
from purpose_agent.auth import keys
from purpose_agent.auth.authenticator import Authenticator
from purpose_agent.auth.errors import Forbidden, Unauthenticated
from purpose_agent.auth.metering import KeyMeter
from purpose_agent.auth.principal import Operation, Principal, Refusal, Role
from purpose_agent.auth.scopes import AgentNames, check_operation
from purpose_agent.auth.throttle import LoginThrottle
from purpose_agent.auth.tokens import TokenService, looks_like_jwt
from purpose_agent.kit.app_context import context_of
from purpose_agent.kit.clock import Clock
from purpose_agent.kit.metrics import AUTH_FAILURES
from purpose_agent.kit.timings import stage

log = structlog.get_logger("purpose_agent.auth")

MISSING = "Credentials are required: an API key as X-API-Key, or Authorization: Bearer with a key or token."
INVALID = "The credentials are invalid."


def presented_secret(request: Request) -> str | None:
    """The key from X-API-Key, or from an Authorization: Bearer header."""
    if key := request.headers.get("x-api-key"):
        return key.strip()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class AuthContext(Protocol):
    """The parts of the application context that authentication and the auth routes read."""

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def authenticator(self) -> Authenticator: ...

    @property
    def tokens(self) -> TokenService: ...

    @property
    def login_throttle(self) -> LoginThrottle: ...

    @property
    def meter(self) -> KeyMeter:
        """Each key's quotas and usage."""

    @property
    def agents(self) -> AgentNames:
        """Which agents exist, for the scopes that name them."""

    @property
    def clock(self) -> Clock: ...


def auth_context(request: Request) -> AuthContext:
    context: AuthContext = context_of(request)
    return context


AuthContextDep = Annotated[AuthContext, Depends(auth_context)]


async def current_principal(request: Request) -> Principal:
    """The caller; looked up in a short transaction of its own (or the cache), never the route's."""
    secret = presented_secret(request)
    if secret is None:
        AUTH_FAILURES.labels("missing").inc()
        raise Unauthenticated(MISSING)
    context = auth_context(request)
    with stage("auth"):
        found = await context.authenticator.authenticate(context.sessionmaker, secret, datetime.now(UTC))
    if isinstance(found, Refusal):
        AUTH_FAILURES.labels(found.value).inc()
        await _note_denied(context.sessionmaker, request, secret)
        raise Unauthenticated(INVALID)
    request.state.principal = found
    with stage("auth"):  # a key's quotas are part of admitting its request
        await context.meter.admit(found, context.clock())
    return found


async def _note_denied(sessionmaker: async_sessionmaker[AsyncSession], request: Request, secret: str) -> None:
    """An audit entry that outlives the refused request; a failure to write it never hides the 401."""
    jwt_like = looks_like_jwt(secret)
    # The visible part of a key identifies it without revealing it; a token is not shown at all.
    actor = "token" if jwt_like else f"key:{secret[: keys.VISIBLE_CHARS]}"
    try:
        await audit.record_detached(
            sessionmaker,
            request,
            action="auth.token_denied" if jwt_like else "auth.key_denied",
            outcome="denied",
            actor=actor,
            details={"path": request.url.path},
        )
    except Exception:
        log.exception("audit_not_written", action="auth.key_denied")


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits principals of `role` (admins always) and refuses others with 403."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has(role):
            AUTH_FAILURES.labels("forbidden").inc()
            raise Forbidden(f"This needs the {role.value} role.")
        return principal

    check.required_role = role  # type: ignore[attr-defined]  # read by the route-walking test
    return check


def require_operation(operation: Operation) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits users (and admins) whose scope allows `operation`; others get 403."""

    async def check(principal: Annotated[Principal, Depends(require_role(Role.user))]) -> Principal:
        check_operation(principal, operation)
        return principal

    return check


UserPrincipal = Annotated[Principal, Depends(require_role(Role.user))]
AdminPrincipal = Annotated[Principal, Depends(require_role(Role.admin))]
ChatPrincipal = Annotated[Principal, Depends(require_operation(Operation.chat))]
SearchPrincipal = Annotated[Principal, Depends(require_operation(Operation.search))]
McpPrincipal = Annotated[Principal, Depends(require_operation(Operation.mcp))]
