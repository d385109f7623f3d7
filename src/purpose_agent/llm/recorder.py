"""Write what each routed request did: failover events and usage, in PostgreSQL and in the logs.

Records are written in their own short transaction, apart from the request's: a request that
ends in an error still leaves its failover rows. They are written in the background so that the
answer does not wait for them; `drain()` at shutdown waits for those still pending.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.llm.errors import Attempt
from purpose_agent.llm.models import FailoverEvent, UsageRecord
from purpose_agent.llm.types import Usage

log = structlog.get_logger("purpose_agent.llm")


@dataclass(frozen=True, slots=True)
class RouteRecord:
    request_id: str
    attempts: tuple[Attempt, ...]
    model_used: str | None
    usage: Usage
    cost_usd: float | None
    latency_ms: float


class RouteRecorder(Protocol):
    def submit(self, record: RouteRecord) -> None:
        """Take a record to write; never raises, never blocks the caller."""
        ...


def log_route(record: RouteRecord) -> None:
    """One log line per routed request, naming every failed attempt and who answered."""
    log.info(
        "llm_route",
        model_used=record.model_used,
        prompt_tokens=record.usage.prompt_tokens,
        completion_tokens=record.usage.completion_tokens,
        cost_usd=record.cost_usd,
        latency_ms=record.latency_ms,
        failovers=[
            {"provider": a.provider, "reason": a.reason.value, "latency_ms": a.latency_ms}
            for a in record.attempts
        ],
    )


async def write_route(session: AsyncSession, record: RouteRecord) -> None:
    """Add the failover rows and the usage row of one request to `session`."""
    session.add_all(
        FailoverEvent(
            request_id=record.request_id,
            provider=attempt.provider,
            model=attempt.model,
            reason=attempt.reason.value,
            detail=attempt.detail[:500],
            status=attempt.status,
            latency_ms=attempt.latency_ms,
            answered_by=record.model_used,
        )
        for attempt in record.attempts
    )
    session.add(
        UsageRecord(
            request_id=record.request_id,
            model_used=record.model_used,
            prompt_tokens=record.usage.prompt_tokens,
            completion_tokens=record.usage.completion_tokens,
            cost_usd=record.cost_usd,
            latency_ms=record.latency_ms,
            failed_attempts=len(record.attempts),
        )
    )
    await session.flush()


class DatabaseRecorder:
    """Writes each record in the background, in a transaction of its own."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._pending: set[asyncio.Task[None]] = set()

    def submit(self, record: RouteRecord) -> None:
        log_route(record)
        task = asyncio.get_running_loop().create_task(self._write(record))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, record: RouteRecord) -> None:
        try:
            async with self.sessionmaker() as session, session.begin():
                await write_route(session, record)
        except Exception:
            # Losing a usage row must never fail an answer that was already given.
            log.exception("llm_route_not_recorded")

    async def drain(self) -> None:
        """Wait for every record still being written."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
