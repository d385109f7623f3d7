"""What the routed requests used, per UTC day and one grouping (model, provider, agent or principal):
the rows of `llm_usage` added up for a report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from purpose_agent.llm.models import UsageRecord


class UsageGrouping(StrEnum):
    """What a day's usage is split by."""

    model = "model"
    provider = "provider"
    agent = "agent"
    key = "key"  # the principal: an API key, or a user signed in with a password


def _grouped_by(grouping: UsageGrouping) -> ColumnElement[str] | InstrumentedAttribute[str | None]:
    if grouping is UsageGrouping.provider:
        # The part of `provider/model` before "/"; "extractive" and "none" are their own.
        return func.split_part(UsageRecord.model_used, "/", 1)
    if grouping is UsageGrouping.agent:
        return UsageRecord.agent_id
    if grouping is UsageGrouping.key:
        return UsageRecord.principal
    return UsageRecord.model_used


@dataclass(frozen=True, slots=True)
class DayOfGroup:
    day: date
    # The grouping's value: `provider/model`, "extractive" (passages quoted), "none" (abstained: no
    # model asked) or None (every provider failed); the provider; the persona id; the principal's id.
    # None also where the request named none (rows recorded before agents and principals were).
    group: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    # None when no request of the group had a known price.
    cost_usd: float | None
    failed_attempts: int


async def usage_by_day(
    session: AsyncSession, since: datetime, until: datetime, grouping: UsageGrouping = UsageGrouping.model
) -> list[DayOfGroup]:
    """Each day (UTC) and group from `since` (inclusive) to `until` (exclusive), oldest first."""
    day = cast(func.timezone("UTC", UsageRecord.created_at), Date).label("day")
    group = _grouped_by(grouping).label("group")
    rows = await session.execute(
        select(
            day,
            group,
            func.count(),
            func.coalesce(func.sum(UsageRecord.prompt_tokens), 0),
            func.coalesce(func.sum(UsageRecord.completion_tokens), 0),
            func.sum(UsageRecord.cost_usd),
            func.coalesce(func.sum(UsageRecord.failed_attempts), 0),
        )
        .where(UsageRecord.created_at >= since, UsageRecord.created_at < until)
        .group_by(day, group)
        .order_by(day, group)
    )
    return [
        DayOfGroup(
            day=row[0],
            group=row[1],
            requests=int(row[2]),
            prompt_tokens=int(row[3]),
            completion_tokens=int(row[4]),
            cost_usd=None if row[5] is None else float(row[5]),
            failed_attempts=int(row[6]),
        )
        for row in rows
    ]
