"""Sign-in (POST /api/auth/token), and the admin routes for users (those for keys: `key_endpoints`)."""

from __future__ import annotations

import uuid

import structlog
from fastapi import APIRouter, Request

from purpose_agent.audit import service as audit
from purpose_agent.auth import users
from purpose_agent.auth.dependencies import AdminPrincipal, AuthContext, AuthContextDep
from purpose_agent.auth.errors import (
    PasswordRejected,
    TokensNotIssued,
    TooManyAttempts,
    Unauthenticated,
    UnknownAgents,
    UserExists,
    UserNotFound,
)
from purpose_agent.auth.schemas import (
    TokenRequest,
    TokenResponse,
    UserCreate,
    UserRead,
    UserUpdate,
)
from purpose_agent.auth.scopes import check_agents_exist
from purpose_agent.db.engine import SessionDep
from purpose_agent.kit.clock import NowDep
from purpose_agent.kit.metrics import AUTH_FAILURES
from purpose_agent.kit.pagination import Page, PageDep
from purpose_agent.kit.problems import problem_responses

router = APIRouter(tags=["auth"])
log = structlog.get_logger("purpose_agent.auth")

BAD_LOGIN = "The username or password is wrong."


def client_address(request: Request) -> str:
    """The caller's address: the one a trusted proxy reported, else the socket peer."""
    forwarded = getattr(request.state, "client_address", None)
    return str(forwarded or (request.client.host if request.client else "unknown"))


@router.post(
    "/api/auth/token",
    responses=problem_responses(Unauthenticated, TooManyAttempts, TokensNotIssued),
)
async def issue_token(
    data: TokenRequest, request: Request, session: SessionDep, context: AuthContextDep, now: NowDep
) -> TokenResponse:
    """Exchange a username and password for a short-lived bearer token."""
    if not context.tokens.policy.can_issue:
        raise TokensNotIssued("This service verifies tokens of an identity provider; it issues none.")
    throttle = context.login_throttle
    username, address = users.normalise_username(data.username), client_address(request)
    # Counted before the password is checked: guesses sent at once cannot all pass a check first.
    attempt = await throttle.attempt(username, address)
    if attempt.retry_after is not None:
        AUTH_FAILURES.labels("login_throttled").inc()
        await _note_failure(context, request, username, "auth.login_throttled", "refused")
        raise TooManyAttempts(attempt.retry_after)
    user = await users.sign_in(context.sessionmaker, username, data.password, now)
    if user is None:
        AUTH_FAILURES.labels("login_failed").inc()
        await _note_failure(context, request, username, "auth.login_failed", "failed")
        raise Unauthenticated(BAD_LOGIN)
    await throttle.succeeded(attempt)
    issued = context.tokens.issue(subject=f"user:{user.id}", role=user.role, name=user.username, now=now)
    await audit.record(session, request, action="auth.login", target=username, actor=f"user:{user.id}")
    return TokenResponse(access_token=issued.token, expires_in=issued.expires_in)


async def _note_failure(
    context: AuthContext, request: Request, username: str, action: str, outcome: str
) -> None:
    """Written apart from the request, which fails; a failed audit write never hides the answer."""
    try:
        await audit.record_detached(
            context.sessionmaker, request, action=action, outcome=outcome, actor=username
        )
    except Exception:
        log.exception("audit_not_written", action=action)


@router.post(
    "/api/admin/users",
    status_code=201,
    responses=problem_responses(UserExists, PasswordRejected, UnknownAgents),
)
async def create_user(
    data: UserCreate, request: Request, session: SessionDep, context: AuthContextDep, _: AdminPrincipal
) -> UserRead:
    """A user who can sign in at POST /api/auth/token, limited to `agents` and `operations` if given."""
    await check_agents_exist(session, context.agents, data.agents)
    user = await users.create_user(
        session,
        username=data.username,
        password=data.password,
        role=data.role,
        scope=data.model_dump(include=set(users.SCOPE_FIELDS)),
    )
    await audit.record(
        session, request, action="user.create", target=user.username, details={"role": user.role}
    )
    return UserRead.model_validate(user)


@router.get("/api/admin/users")
async def list_users(session: SessionDep, _: AdminPrincipal, page: PageDep) -> Page[UserRead]:
    found, total = await users.list_users(session, page.limit, page.offset)
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in found], total=total, limit=page.limit, offset=page.offset
    )


@router.patch(
    "/api/admin/users/{user_id}", responses=problem_responses(UserNotFound, PasswordRejected, UnknownAgents)
)
async def update_user(
    user_id: uuid.UUID, data: UserUpdate, session: SessionDep, context: AuthContextDep, _: AdminPrincipal
) -> UserRead:
    """Change a user's role, password, scope (`agents`, `operations`; null lifts a limit), or disable
    them; their tokens follow the change at once."""
    await check_agents_exist(session, context.agents, data.agents)
    user = await users.update_user(
        session,
        user_id,
        role=data.role,
        disabled=data.disabled,
        password=data.password,
        scope=data.model_dump(include=set(users.SCOPE_FIELDS) & data.model_fields_set),
    )
    context.authenticator.forget_user(user_id)  # and in every process when it commits
    return UserRead.model_validate(user)
