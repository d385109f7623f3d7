"""The audit log: every admin write and authentication event, with who, what, which, from where and when.

`record` adds an entry in the caller's transaction, so an admin write and its entry commit or roll
back together. `record_detached` writes in a short transaction of its own, for an event whose request
then fails and rolls back (a denied key, a failed login): the entry stays.

Nothing secret is stored. Actor, target, request id and details pass the log redactor (e-mail
addresses, card and phone numbers, JWTs, bearer tokens and API keys become placeholders such as
`[EMAIL]`), and a key of the details that names a secret (`password`, `token`, `api_key`, ...) is
dropped with its value. Only the client address is kept as it is: it is what that column is for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Final, Protocol, runtime_checkable

from fastapi import Request
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.audit.models import AuditEntry
from purpose_agent.kit.redaction import REDACTED, Redactor

# The actor of an event with no principal and no actor named by the caller.
ANONYMOUS: Final = "anonymous"
# Dotted lower-case names: persona.create, auth.login_failed.
ACTION_PATTERN: Final = r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$"
OUTCOME_PATTERN: Final = r"^[a-z][a-z0-9_]{0,15}$"

# The widths of the audit_log columns (migration 0006).
_ACTOR_MAX: Final = 200
_ACTION_MAX: Final = 64
_TARGET_MAX: Final = 300
_REQUEST_ID_MAX: Final = 128
_ADDRESS_MAX: Final = 64
# A longer text in the details is cut (after redaction, so no secret is cut into an unrecognised piece).
_DETAIL_TEXT_MAX: Final = 1000

_ACTION: Final = re.compile(ACTION_PATTERN)
_OUTCOME: Final = re.compile(OUTCOME_PATTERN)
# IP addresses in free text are personal data; the client address has a column of its own.
_REDACTOR: Final = Redactor(redact_ip_addresses=True)


@runtime_checkable
class Actor(Protocol):
    """Whoever the request authenticated (auth's `Principal`, which the audit log may not import)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Where an event comes from: read from a request, or given by code that has none (the command line)."""

    actor: str
    actor_name: str | None = None
    request_id: str | None = None
    client_address: str | None = None

    @classmethod
    def of(cls, request: Request) -> AuditContext:
        """The request's principal (set by `current_principal`), request id and client address."""
        principal = getattr(request.state, "principal", None)
        # Set by the trusted-proxy handling when the request came through one.
        address = getattr(request.state, "client_address", None) or (
            request.client.host if request.client else None
        )
        return cls(
            actor=principal.id if isinstance(principal, Actor) else ANONYMOUS,
            actor_name=principal.name if isinstance(principal, Actor) else None,
            request_id=getattr(request.state, "request_id", None),
            client_address=address,
        )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries a listing wants; None matches any."""

    actor: str | None = None
    # Exact, or a prefix when it ends with "." ("persona." matches persona.create and persona.delete).
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def build_entry(
    source: Request | AuditContext,
    *,
    action: str,
    target: str | None = None,
    outcome: str = "ok",
    details: Mapping[str, object] | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """One event's entry, redacted; `actor` overrides the principal (e.g. the username of a failed login)."""
    if len(action) > _ACTION_MAX or not _ACTION.match(action):
        raise ValueError(f"an audit action is a dotted lower-case name of at most {_ACTION_MAX} characters")
    if not _OUTCOME.match(outcome):
        raise ValueError("an audit outcome is a lower-case word of at most 16 characters")
    context = source if isinstance(source, AuditContext) else AuditContext.of(source)
    # The principal's name describes the principal's id: not an actor the caller named instead.
    named = {"actor_name": context.actor_name} if actor is None and context.actor_name else {}
    cleaned = safe_details({**named, **(details or {})})
    return AuditEntry(
        actor=_redacted(actor if actor is not None else context.actor, _ACTOR_MAX) or ANONYMOUS,
        action=action,
        target=_redacted(target, _TARGET_MAX),
        outcome=outcome,
        request_id=_redacted(context.request_id, _REQUEST_ID_MAX),
        client_address=context.client_address[:_ADDRESS_MAX] if context.client_address else None,
        details=cleaned or None,
    )


async def record(
    session: AsyncSession,
    source: Request | AuditContext,
    *,
    action: str,
    target: str | None = None,
    outcome: str = "ok",
    details: Mapping[str, object] | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """Add the entry of one event to the caller's transaction (flushed, not committed)."""
    entry = build_entry(source, action=action, target=target, outcome=outcome, details=details, actor=actor)
    session.add(entry)
    await session.flush()
    return entry


async def record_detached(
    sessionmaker: async_sessionmaker[AsyncSession],
    source: Request | AuditContext,
    *,
    action: str,
    target: str | None = None,
    outcome: str = "ok",
    details: Mapping[str, object] | None = None,
    actor: str | None = None,
) -> int:
    """Write the entry of one event in a transaction of its own, committed at once; its id."""
    async with sessionmaker() as session, session.begin():
        entry = await record(
            session, source, action=action, target=target, outcome=outcome, details=details, actor=actor
        )
        return entry.id


def safe_details(details: Mapping[str, object]) -> dict[str, Any]:
    """`details` as JSON values, redacted, without the keys that name a secret."""
    scrubbed = _scrub(details)
    assert isinstance(scrubbed, dict)
    return scrubbed


async def list_entries(
    session: AsyncSession, filters: AuditFilter, *, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """One page of entries, newest first, and how many match in all."""
    conditions = _conditions(filters)
    total = await session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
    entries = await session.scalars(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(entries), int(total or 0)


async def delete_older_than(session: AsyncSession, cutoff: datetime, batch: int) -> int:
    """Delete up to `batch` of the entries made before `cutoff`, oldest first; how many went."""
    doomed = (
        select(AuditEntry.id)
        .where(AuditEntry.at < cutoff)
        .order_by(AuditEntry.at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(AuditEntry).where(AuditEntry.id.in_(doomed.scalar_subquery())))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _conditions(filters: AuditFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.actor is not None:
        conditions.append(AuditEntry.actor == filters.actor)
    if filters.action is not None:
        conditions.append(
            AuditEntry.action.startswith(filters.action, autoescape=True)
            if filters.action.endswith(".")
            else AuditEntry.action == filters.action
        )
    if filters.target is not None:
        conditions.append(AuditEntry.target == filters.target)
    if filters.outcome is not None:
        conditions.append(AuditEntry.outcome == filters.outcome)
    if filters.since is not None:
        conditions.append(AuditEntry.at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEntry.at < filters.until)
    return conditions


def _redacted(text: str | None, limit: int) -> str | None:
    return _REDACTOR.redact_text(text)[:limit] if text is not None else None


def _names_a_secret(key: str) -> bool:
    # The log redactor's own judgement of a key, so that logs and the audit log agree on what names a secret.
    return _REDACTOR.redact({key: None}) == {key: REDACTED}


def _scrub(value: object) -> object:
    if isinstance(value, Mapping):
        return {
            _REDACTOR.redact_text(str(key)): _scrub(item)
            for key, item in value.items()
            if not _names_a_secret(str(key))
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        # A number may be a card or a phone number too; a non-finite float is not JSON.
        text = str(value)
        redacted = _REDACTOR.redact_text(text)
        return value if redacted == text and math.isfinite(value) else redacted
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return _REDACTOR.redact_text(str(value))[:_DETAIL_TEXT_MAX]
