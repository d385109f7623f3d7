"""What the routed requests used, per UTC day and model: the rows of `llm_usage` added up for a report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.llm.models import UsageRecord


@dataclass(frozen=True, slots=True)
class DayOfModel:
    day: date
    # `provider/model`, "extractive" (passages quoted), "none" (abstained: no model asked), or None
    # (every provider failed).
    model_used: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    # None when no request of the group had a known price.
    cost_usd: float | None
    failed_attempts: int


async def usage_by_day(session: AsyncSession, since: datetime, until: datetime) -> list[DayOfModel]:
    """Each day (UTC) and model from `since` (inclusive) to `until` (exclusive), oldest first."""
    day = cast(func.timezone("UTC", UsageRecord.created_at), Date).label("day")
    rows = await session.execute(
        select(
            day,
            UsageRecord.model_used,
            func.count(),
            func.coalesce(func.sum(UsageRecord.prompt_tokens), 0),
            func.coalesce(func.sum(UsageRecord.completion_tokens), 0),
            func.sum(UsageRecord.cost_usd),
            func.coalesce(func.sum(UsageRecord.failed_attempts), 0),
        )
        .where(UsageRecord.created_at >= since, UsageRecord.created_at < until)
        .group_by(day, UsageRecord.model_used)
        .order_by(day, UsageRecord.model_used)
    )
    return [
        DayOfModel(
            day=row[0],
            model_used=row[1],
            requests=int(row[2]),
            prompt_tokens=int(row[3]),
            completion_tokens=int(row[4]),
            cost_usd=None if row[5] is None else float(row[5]),
            failed_attempts=int(row[6]),
        )
        for row in rows
    ]
