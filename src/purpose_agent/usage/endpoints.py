"""GET /api/admin/usage: requests, tokens and estimated cost per UTC day and model, for admins.

Read from `llm_usage`, which the router writes for every routed request (off the request path, so a
request of the last second or two may not be counted yet). It holds no agent or key: a report by
either needs the usage record to carry them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from purpose_agent.auth.dependencies import AdminPrincipal
from purpose_agent.db.engine import SessionDep
from purpose_agent.kit.clock import NowDep
from purpose_agent.llm.usage_report import usage_by_day

router = APIRouter(prefix="/api/admin", tags=["usage"])


class UsageDayRead(BaseModel):
    day: date
    model_used: str | None
    # The part of model_used before "/" ("openai"), or model_used itself ("extractive", "none").
    provider: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    failed_attempts: int


class UsageReport(BaseModel):
    since: date
    until: date
    days: list[UsageDayRead]


@router.get("/usage")
async def usage(
    session: SessionDep,
    _: AdminPrincipal,
    now: NowDep,
    days: Annotated[int, Query(ge=1, le=366, description="Days back, today (UTC) included.")] = 30,
) -> UsageReport:
    """Requests, tokens, failed attempts and estimated cost per UTC day and model, oldest first."""
    today = now.astimezone(UTC).date()
    since = today - timedelta(days=days - 1)
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    end = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    rows = await usage_by_day(session, start, end)
    return UsageReport(
        since=since,
        until=today,
        days=[
            UsageDayRead(**asdict(row), provider=row.model_used.split("/", 1)[0] if row.model_used else None)
            for row in rows
        ],
    )
