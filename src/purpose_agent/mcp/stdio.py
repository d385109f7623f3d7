"""MCP over stdio (`purpose-agent mcp`): the same tools for a desktop client, as one credential.

The client starts this process and speaks JSON-RPC on its stdin and stdout (logs go to stderr).
The credential comes from MCP_API_KEY: checked once at start, so a bad one stops the process with
a clear error, and again at every call (through the authenticator's cache, which drops a key as soon
as its revocation commits anywhere), so a revoked key stops working at its next call; a refusal goes
to the audit log as one over HTTP does. Calls count against that credential's rate limits as MCP
calls over HTTP do (the same buckets, shared through Redis); there is no client address on stdio,
so the per-address limit does not apply. A key's scope must allow `mcp`, and each call is admitted
against its quotas, as over HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

import structlog
from mcp.server.mcpserver import Context

from purpose_agent.audit import service as audit
from purpose_agent.auth import keys
from purpose_agent.auth.authenticator import Authenticator
from purpose_agent.auth.errors import Unauthenticated
from purpose_agent.auth.metering import KeyMeter
from purpose_agent.auth.principal import Operation, Principal
from purpose_agent.auth.scopes import check_operation
from purpose_agent.auth.tokens import looks_like_jwt
from purpose_agent.kit.rate_limit import RateLimiter
from purpose_agent.kit.rate_limit_middleware import MCP_PATH, RateLimitPolicy, checks_for, refusal_detail
from purpose_agent.kit.request_context import new_request_id
from purpose_agent.mcp.errors import RateLimited
from purpose_agent.mcp.tools import ToolContext, build_server

log = structlog.get_logger("purpose_agent.mcp")

REFUSED = "MCP_API_KEY is refused: it is not a live API key or token (unknown, revoked or expired)."


class StdioContext(ToolContext, Protocol):
    """The parts of the application context that MCP over stdio reads: the tools' and the checks'."""

    @property
    def authenticator(self) -> Authenticator: ...

    @property
    def rate_limiter(self) -> RateLimiter: ...

    @property
    def meter(self) -> KeyMeter: ...


class CredentialCaller:
    """Every call is made by the one credential this process was started with."""

    def __init__(self, secret: str, context: StdioContext, policy: RateLimitPolicy) -> None:
        self.secret = secret
        self.context = context
        self.policy = policy

    async def principal(self, ctx: Context) -> Principal:
        await self._count()
        principal = await self.authenticate()
        await self.context.meter.admit(principal, self.context.clock())
        return principal

    def request_id(self, ctx: Context) -> str:
        return new_request_id()

    async def authenticate(self) -> Principal:
        principal = await self.context.authenticator.principal(
            self.context.sessionmaker, self.secret, datetime.now(UTC)
        )
        if principal is None:
            await self._note_denied()
            raise Unauthenticated(REFUSED)
        check_operation(principal, Operation.mcp)
        return principal

    async def _note_denied(self) -> None:
        # As a refused credential over HTTP is noted (auth.dependencies), in an entry that stays.
        jwt_like = looks_like_jwt(self.secret)
        try:
            await audit.record_detached(
                self.context.sessionmaker,
                audit.AuditContext(actor=audit.ANONYMOUS, request_id=new_request_id()),
                action="auth.token_denied" if jwt_like else "auth.key_denied",
                outcome="denied",
                actor="token" if jwt_like else f"key:{self.secret[: keys.VISIBLE_CHARS]}",
                details={"transport": "mcp-stdio"},
            )
        except Exception:
            log.exception("audit_not_written", action="auth.key_denied")

    async def _count(self) -> None:
        # The checks the middleware makes for POST /api/mcp with this credential, but the address's.
        limiter = self.context.rate_limiter
        scope = {"type": "http", "path": MCP_PATH, "headers": [(b"x-api-key", self.secret.encode())]}
        for check in checks_for(self.policy, scope, None):
            if check.key_parts[0] == "ip":
                continue
            decision = await limiter.hit(check.item, *check.key_parts)
            if not decision.allowed:
                raise RateLimited(refusal_detail(check, decision))


async def serve_stdio(context: StdioContext, secret: str, policy: RateLimitPolicy) -> None:
    """Check the credential (a problem when it is refused), then serve the tools on stdio."""
    caller = CredentialCaller(secret, context, policy)
    principal = await caller.authenticate()
    log.info("mcp_stdio_ready", principal=principal.id, role=principal.role.value)
    await build_server(lambda: context, caller).run_stdio_async()
