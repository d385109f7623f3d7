"""GET /api/admin/audit: the audit log for admins, newest first, filtered by actor, action, target, time.

The root builds the router with the guard that admits admins only (`app.py`): authentication
records audit entries, so the audit log sits below it and may not import auth's dependencies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, params
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict

from purpose_agent.audit.service import OUTCOME_PATTERN, AuditFilter, list_entries
from purpose_agent.db.engine import SessionDep
from purpose_agent.kit.pagination import Page, PageDep
from purpose_agent.kit.text import ONE_LINE

# An action (persona.create), or a prefix of actions ending with "." (persona., auth.).
_ACTION_FILTER = r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*(?:\.[a-z][a-z0-9_]*|\.)$"


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    request_id: str | None
    client_address: str | None
    details: dict[str, Any] | None


def audit_filter(
    actor: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="The principal, e.g. key:<uuid>."),
        ONE_LINE,
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=_ACTION_FILTER,
            description="An action (persona.create), or a prefix of actions ending with '.' (persona.).",
        ),
    ] = None,
    target: Annotated[str | None, Query(min_length=1, max_length=300), ONE_LINE] = None,
    outcome: Annotated[str | None, Query(pattern=OUTCOME_PATTERN, description="ok, failed, ...")] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="ISO 8601 with an offset; entries at or after it.")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="ISO 8601 with an offset; entries before it.")
    ] = None,
) -> AuditFilter:
    """The filters of a listing, checked together."""
    if since is not None and until is not None and since > until:
        raise RequestValidationError(
            [{"loc": ("query", "until"), "msg": "until must not be before since", "type": "value_error"}]
        )
    return AuditFilter(actor=actor, action=action, target=target, outcome=outcome, since=since, until=until)


AuditFilterDep = Annotated[AuditFilter, Depends(audit_filter)]


async def list_audit_entries(
    session: SessionDep, page: PageDep, filters: AuditFilterDep
) -> Page[AuditEntryRead]:
    """Audit entries, newest first: admin writes and authentication events."""
    entries, total = await list_entries(session, filters, limit=page.limit, offset=page.offset)
    items = [AuditEntryRead.model_validate(entry) for entry in entries]
    return Page[AuditEntryRead](items=items, total=total, limit=page.limit, offset=page.offset)


def audit_router(admins_only: params.Depends) -> APIRouter:
    """The audit routes, each behind `admins_only`."""
    router = APIRouter(prefix="/api/admin/audit", tags=["admin"], dependencies=[admins_only])
    router.add_api_route("", list_audit_entries, methods=["GET"])
    return router
