"""GET /api/admin/usage: requests, tokens and estimated cost per UTC day and model, provider, agent or
key, for admins.

Read from `llm_usage`, which the router writes for every routed request (off the request path, so a
request of the last second or two may not be counted yet), naming the agent and the principal of
every chat request.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from purpose_agent.auth.dependencies import AdminPrincipal
from purpose_agent.auth.principal_names import principal_names
from purpose_agent.db.engine import SessionDep
from purpose_agent.kit.clock import NowDep
from purpose_agent.llm.usage_report import DayOfGroup, UsageGrouping, usage_by_day

router = APIRouter(prefix="/api/admin", tags=["usage"])


class UsageDayRead(BaseModel):
    """A day's usage of one group. The fields of the grouping asked are filled, the others null."""

    day: date
    model_used: str | None = Field(
        default=None,
        description='by=model: `provider/model`, "extractive" (passages quoted), "none" (abstained), or '
        "null (every provider failed).",
    )
    provider: str | None = Field(
        default=None, description='by=model or provider: the part of model_used before "/" ("openai").'
    )
    agent_id: str | None = Field(
        default=None, description="by=agent: the persona asked; null for requests recorded without one."
    )
    principal: str | None = Field(
        default=None,
        description='by=key: who asked ("key:<uuid>", "user:<uuid>"); null for requests recorded '
        "without one.",
    )
    principal_name: str | None = Field(
        default=None, description="by=key: the key's name or the user's username, while it exists."
    )
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    failed_attempts: int


class UsageReport(BaseModel):
    since: date
    until: date
    by: UsageGrouping
    days: list[UsageDayRead]


def _grouped(row: DayOfGroup, by: UsageGrouping, names: dict[str, str]) -> dict[str, str | None]:
    """The fields naming the row's group."""
    if by is UsageGrouping.model:
        return {"model_used": row.group, "provider": row.group.split("/", 1)[0] if row.group else None}
    if by is UsageGrouping.provider:
        return {"provider": row.group}
    if by is UsageGrouping.agent:
        return {"agent_id": row.group}
    return {"principal": row.group, "principal_name": names.get(row.group) if row.group else None}


@router.get("/usage")
async def usage(
    session: SessionDep,
    _: AdminPrincipal,
    now: NowDep,
    days: Annotated[int, Query(ge=1, le=366, description="Days back, today (UTC) included.")] = 30,
    by: Annotated[
        UsageGrouping, Query(description="What each day is split by: model, provider, agent or key.")
    ] = UsageGrouping.model,
) -> UsageReport:
    """Requests, tokens, failed attempts and estimated cost per UTC day and group, oldest first."""
    today = now.astimezone(UTC).date()
    since = today - timedelta(days=days - 1)
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    end = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    rows = await usage_by_day(session, start, end, by)
    names = {}
    if by is UsageGrouping.key:
        names = await principal_names(session, {row.group for row in rows if row.group})
    return UsageReport(
        since=since,
        until=today,
        by=by,
        days=[
            UsageDayRead(
                day=row.day,
                requests=row.requests,
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
                cost_usd=row.cost_usd,
                failed_attempts=row.failed_attempts,
                **_grouped(row, by, names),
            )
            for row in rows
        ],
    )
