"""The admin routes for API keys: create (shown once), list, change scope and quotas, revoke, usage."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select

from purpose_agent.audit import service as audit
from purpose_agent.auth import keys
from purpose_agent.auth.dependencies import AdminPrincipal, AuthContextDep
from purpose_agent.auth.errors import InvalidPeriod, KeyNotFound, UnknownAgents
from purpose_agent.auth.metering import utc_day
from purpose_agent.auth.models import ApiKey
from purpose_agent.auth.schemas import KeyCreate, KeyCreated, KeyRead, KeyUpdate, KeyUsageRead
from purpose_agent.auth.scopes import check_agents_exist
from purpose_agent.db.engine import SessionDep
from purpose_agent.kit.clock import NowDep
from purpose_agent.kit.pagination import Page, PageDep
from purpose_agent.kit.problems import problem_responses

router = APIRouter(tags=["auth"])

# The usage route's default period: the last 30 days, today included; and the longest it reads.
DEFAULT_DAYS = 30
MAX_DAYS = 366


@router.post("/api/keys", status_code=201, responses=problem_responses(UnknownAgents))
async def create_key(
    data: KeyCreate,
    request: Request,
    session: SessionDep,
    context: AuthContextDep,
    admin: AdminPrincipal,
    now: NowDep,
) -> KeyCreated:
    """A new API key, limited to `agents` and `operations` and held to its quotas if given; the key
    itself is in this answer only."""
    await check_agents_exist(session, context.agents, data.agents)
    expires = now + timedelta(days=data.expires_in_days) if data.expires_in_days else None
    limits = data.model_dump(include=set(keys.LIMIT_FIELDS))
    issued = await keys.create_key(
        session, name=data.name, role=data.role, created_by=admin.id, expires_at=expires, limits=limits
    )
    details = {"role": data.role.value, "name": data.name, "prefix": issued.prefix} | _shown(limits)
    await audit.record(session, request, action="key.create", target=str(issued.id), details=details)
    return KeyCreated(
        id=issued.id,
        name=issued.name,
        role=issued.role,
        prefix=issued.prefix,
        expires_at=expires,
        key=issued.secret,
        **limits,
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


@router.patch("/api/keys/{key_id}", responses=problem_responses(KeyNotFound, UnknownAgents))
async def update_key(
    key_id: uuid.UUID,
    data: KeyUpdate,
    request: Request,
    session: SessionDep,
    context: AuthContextDep,
    _: AdminPrincipal,
) -> KeyRead:
    """Change a key's name, scope or quotas: the fields sent replace the key's (null lifts that limit),
    those left out stay. The key is held to the change from its next request on, in every process."""
    await check_agents_exist(session, context.agents, data.agents)
    changes = data.model_dump(include=data.model_fields_set)
    key = await keys.update_key(session, key_id, changes)
    if key is None:
        raise KeyNotFound(f"There is no key with id {key_id}.")
    await audit.record(session, request, action="key.update", target=str(key_id), details=_shown(changes))
    # Dropped here at once; every process (this one too) drops it again when the change commits.
    context.authenticator.forget_key(key_id)
    return KeyRead.model_validate(key)


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


@router.get("/api/keys/{key_id}/usage", responses=problem_responses(KeyNotFound, InvalidPeriod))
async def key_usage(
    key_id: uuid.UUID,
    session: SessionDep,
    context: AuthContextDep,
    _: AdminPrincipal,
    now: NowDep,
    start: Annotated[
        date | None, Query(description="The first day (UTC, YYYY-MM-DD); by default 29 days before `end`.")
    ] = None,
    end: Annotated[
        date | None, Query(description="The last day (UTC, YYYY-MM-DD); by default today.")
    ] = None,
) -> KeyUsageRead:
    """The key's requests, tokens and estimated cost on each day of the period (at most 366 days), and
    each of its quotas now: what it used in the current period, and when that period resets."""
    last = end or utc_day(now)
    # The first day there is, for an `end` in year 1: no 500 for a date the calendar cannot go before.
    first = start or date.fromordinal(max(1, last.toordinal() - (DEFAULT_DAYS - 1)))
    if first > last:
        raise InvalidPeriod(f"The period starts ({first}) after it ends ({last}).")
    if (last - first).days >= MAX_DAYS:
        raise InvalidPeriod(f"The period covers more than {MAX_DAYS} days; ask for a shorter one.")
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise KeyNotFound(f"There is no key with id {key_id}.")
    principal = keys.principal_of(key)
    return await context.meter.report(
        session, key_id=key.id, name=key.name, quotas=principal.quotas, start=first, end=last, now=now
    )


def _shown(fields: dict[str, object]) -> dict[str, object]:
    """Fields for the audit log, as JSON holds them."""
    return {
        name: [str(v) for v in value] if isinstance(value, list) else value for name, value in fields.items()
    }
