"""What an API key spends, in one place: its quotas checked and counted (`auth.quotas`, shared by every
replica) and its usage per day recorded (`auth.daily_usage`, kept in PostgreSQL).

Every request a key makes is admitted here once it is authenticated (users and tokens have no
quotas); every answer given to it is charged here with its tokens and estimated cost, as the
answer's usage reports them and the price table (`LLM_PRICES`) prices them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.auth.daily_usage import DailyUsageRecorder, DayUsage, usage_by_day
from purpose_agent.auth.principal import Principal, Quotas
from purpose_agent.auth.quotas import QuotaLedger
from purpose_agent.auth.schemas import DayUsageRead, KeyUsageRead, QuotaUseRead, UsageTotals


def utc_day(now: datetime) -> date:
    return now.astimezone(UTC).date()


class KeyMeter:
    def __init__(self, ledger: QuotaLedger, days: DailyUsageRecorder) -> None:
        self.ledger = ledger
        self.days = days

    async def admit(self, principal: Principal, now: datetime) -> None:
        """Count one request of a key; `QuotaExceeded` (429) when one of its quotas is used up."""
        key_id = principal.key_id
        if key_id is None:
            return
        await self.ledger.admit(key_id, principal.quotas, now)
        self.days.note(key_id, utc_day(now), DayUsage(requests=1))

    async def charge(
        self,
        principal: Principal,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
        now: datetime,
    ) -> None:
        """Add what one answer used to the key's quotas and its day."""
        key_id = principal.key_id
        if key_id is None or (prompt_tokens + completion_tokens == 0 and not cost_usd):
            return
        await self.ledger.charge(key_id, prompt_tokens + completion_tokens, cost_usd or 0.0, now)
        usage = DayUsage(
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=cost_usd or 0.0
        )
        self.days.note(key_id, utc_day(now), usage)

    async def report(
        self,
        session: AsyncSession,
        *,
        key_id: uuid.UUID,
        name: str,
        quotas: Quotas,
        start: date,
        end: date,
        now: datetime,
    ) -> KeyUsageRead:
        """The key's usage on each day from `start` to `end`, their total, and its quotas now."""
        await self.days.flush()  # this process's latest sums first
        recorded = await usage_by_day(session, key_id, start, end)
        days = [
            _day(start + timedelta(days=offset), recorded.get(start + timedelta(days=offset), DayUsage()))
            for offset in range((end - start).days + 1)
        ]
        total = DayUsage()
        for usage in recorded.values():
            total.add(usage)
        return KeyUsageRead(
            key_id=key_id,
            name=name,
            start=start,
            end=end,
            days=days,
            total=_totals(total),
            quotas=[
                QuotaUseRead(
                    quota=use.quota,
                    limit=use.limit,
                    used=use.used,
                    remaining=None if use.limit is None else round(max(0, use.limit - use.used), 9),
                    reset=use.reset,
                )
                for use in await self.ledger.uses(key_id, quotas, now)
            ],
        )

    async def aclose(self) -> None:
        await self.days.aclose()


def _totals(usage: DayUsage) -> UsageTotals:
    return UsageTotals(
        requests=usage.requests,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.prompt_tokens + usage.completion_tokens,
        cost_usd=round(usage.cost_usd, 9),
    )


def _day(day: date, usage: DayUsage) -> DayUsageRead:
    return DayUsageRead(day=day, **_totals(usage).model_dump())
