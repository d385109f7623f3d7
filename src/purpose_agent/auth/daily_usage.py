"""Each key's usage per UTC day in PostgreSQL (`api_key_usage`), added up off the request path.

The quota counters (`auth.quotas`) expire with their period; this is the lasting record an admin
reads at `GET /api/keys/{id}/usage`. A request only adds to a sum in memory; a background writer adds
the sums to their rows in one short transaction (an upsert per key and day), a moment after the first
of them, so requests with one key never wait on its row. The sums are bounded: past `max_pending`
keys and days waiting, a new one is dropped, counted and logged. A write that fails keeps its sums
for the next try, a few seconds later; `flush()` writes now (the usage route calls it first, so an
admin reads this process's latest), and `aclose()` at shutdown writes what is left.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.auth.models import KeyUsageDay
from purpose_agent.kit.background import BackgroundLoop

log = structlog.get_logger("purpose_agent.auth")

MAX_PENDING = 50_000
RETRY_SECONDS = 5.0


@dataclass(slots=True)
class DayUsage:
    """What one key did on one day."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: DayUsage) -> None:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd


class DailyUsageRecorder:
    """Sums each key's usage per day in memory and adds the sums to PostgreSQL in the background."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        max_pending: int = MAX_PENDING,
        linger_seconds: float = 0.2,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.max_pending = max_pending
        # How long the writer lets sums gather after the first: one transaction for many requests.
        self.linger_seconds = linger_seconds
        self.dropped = 0
        self._pending: dict[tuple[uuid.UUID, date], DayUsage] = {}
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self._writer = BackgroundLoop(self._run)

    def note(self, key_id: uuid.UUID, day: date, usage: DayUsage) -> None:
        """Add `usage` to the key's day; cheap, never waits."""
        self._merge({(key_id, day): usage})
        self._writer.start()
        self._wake.set()

    async def flush(self) -> bool:
        """Add every pending sum to its row now; False when that failed (they wait for the next try)."""
        async with self._writing:
            pending, self._pending = self._pending, {}
            if not pending:
                return True
            rows = [
                {
                    "key_id": key_id,
                    "day": day,
                    "requests": usage.requests,
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "cost_usd": usage.cost_usd,
                }
                for (key_id, day), usage in pending.items()
            ]
            statement = insert(KeyUsageDay)
            added = {
                column: getattr(KeyUsageDay, column) + getattr(statement.excluded, column)
                for column in ("requests", "prompt_tokens", "completion_tokens", "cost_usd")
            }
            upsert = statement.on_conflict_do_update(index_elements=["key_id", "day"], set_=added)
            try:
                async with self._sessionmaker() as session, session.begin():
                    await session.execute(upsert, rows)
            except Exception:
                # Usage never fails a request that was already answered.
                log.exception("key_usage_not_recorded", rows=len(rows))
                self._merge(pending)
                return False
            return True

    async def aclose(self) -> None:
        """Stop the writer and write what is still pending (what cannot be written is logged)."""
        await self._writer.aclose()
        if not await self.flush():
            log.warning("key_usage_lost", rows=len(self._pending))

    def _merge(self, sums: dict[tuple[uuid.UUID, date], DayUsage]) -> None:
        for slot, usage in sums.items():
            kept = self._pending.get(slot)
            if kept is not None:
                kept.add(usage)
            elif len(self._pending) < self.max_pending:
                self._pending[slot] = DayUsage(
                    usage.requests, usage.prompt_tokens, usage.completion_tokens, usage.cost_usd
                )
            else:
                self.dropped += 1
                log.warning("key_usage_dropped", key_id=str(slot[0]), dropped_in_all=self.dropped)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.linger_seconds)
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()


async def usage_by_day(
    session: AsyncSession, key_id: uuid.UUID, start: date, end: date
) -> dict[date, DayUsage]:
    """The key's recorded usage on each day from `start` to `end` (inclusive) that has any."""
    rows = await session.scalars(
        select(KeyUsageDay).where(
            KeyUsageDay.key_id == key_id, KeyUsageDay.day >= start, KeyUsageDay.day <= end
        )
    )
    return {
        row.day: DayUsage(row.requests, row.prompt_tokens, row.completion_tokens, row.cost_usd)
        for row in rows
    }
