"""Sign-in (POST /api/auth/token), and the admin routes for API keys and users."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select

from purpose_agent.audit import service as audit
from purpose_agent.auth import keys, users
from purpose_agent.auth.dependencies import AdminPrincipal, AuthContext, AuthContextDep
from purpose_agent.auth.errors import (
    KeyNotFound,
    PasswordRejected,
    TokensNotIssued,
    TooManyAttempts,
    Unauthenticated,
    UserExists,
    UserNotFound,
)
from purpose_agent.auth.models import ApiKey
from purpose_agent.auth.schemas import (
    KeyCreate,
    KeyCreated,
    KeyRead,
    TokenRequest,
    TokenResponse,
    UserCreate,
    UserRead,
    UserUpdate,
)
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


@router.post("/api/keys", status_code=201)
async def create_key(
    data: KeyCreate, request: Request, session: SessionDep, admin: AdminPrincipal, now: NowDep
) -> KeyCreated:
    """A new API key; the key itself is in this answer only."""
    expires = now + timedelta(days=data.expires_in_days) if data.expires_in_days else None
    issued = await keys.create_key(
        session, name=data.name, role=data.role, created_by=admin.id, expires_at=expires
    )
    details = {"role": data.role.value, "name": data.name, "prefix": issued.prefix}
    await audit.record(session, request, action="key.create", target=str(issued.id), details=details)
    return KeyCreated(
        id=issued.id,
        name=issued.name,
        role=issued.role,
        prefix=issued.prefix,
        expires_at=expires,
        key=issued.secret,
    )


@router.get("/api/keys")
async def list_keys(session: SessionDep, _: AdminPrincipal, page: PageDep) -> Page[KeyRead]:
    """Every key, newest first, without secrets."""
    total = await session.scalar(select(func.count()).select_from(ApiKey))
    rows = await session.scalars(
        select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id).limit(page.limit).offset(page.offset)
    )
    items = [KeyRead.model_validate(row) for row in rows]
    return Page[KeyRead](items=items, total=int(total or 0), limit=page.limit, offset=page.offset)


@router.delete("/api/keys/{key_id}", status_code=204, responses=problem_responses(KeyNotFound))
async def revoke_key(
    key_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    context: AuthContextDep,
    _: AdminPrincipal,
    now: NowDep,
) -> Response:
    """Revoke a key: refused from its next request on."""
    if await keys.revoke_key(session, str(key_id), now) is None:
        raise KeyNotFound(f"There is no live key with id {key_id}.")
    await audit.record(session, request, action="key.revoke", target=str(key_id))
    # Dropped here at once; every process (this one too) drops it again when the revocation commits.
    context.authenticator.forget_key(key_id)
    return Response(status_code=204)


@router.post("/api/admin/users", status_code=201, responses=problem_responses(UserExists, PasswordRejected))
async def create_user(data: UserCreate, request: Request, session: SessionDep, _: AdminPrincipal) -> UserRead:
    """A user who can sign in at POST /api/auth/token."""
    user = await users.create_user(session, username=data.username, password=data.password, role=data.role)
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


@router.patch("/api/admin/users/{user_id}", responses=problem_responses(UserNotFound, PasswordRejected))
async def update_user(
    user_id: uuid.UUID, data: UserUpdate, session: SessionDep, context: AuthContextDep, _: AdminPrincipal
) -> UserRead:
    """Change a user's role, password, or disable them (their tokens stop working at once)."""
    user = await users.update_user(
        session, user_id, role=data.role, disabled=data.disabled, password=data.password
    )
    context.authenticator.forget_user(user_id)  # and in every process when it commits
    return UserRead.model_validate(user)
