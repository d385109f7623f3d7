"""Write what each routed request did: failover events and usage, in PostgreSQL and in the logs.

Records are written apart from the request's transaction: a request that ends in an error still
leaves its failover rows. The answer never waits for them: they queue in memory (bounded; past the
bound they are dropped, counted and logged, as they are when the database refuses a batch), and one
background writer stores whatever has queued in one short transaction, so under load many requests
share each round trip. `aclose()` at shutdown writes what is still queued.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.kit.background import BackgroundLoop
from purpose_agent.llm.errors import Attempt
from purpose_agent.llm.models import FailoverEvent, UsageRecord
from purpose_agent.llm.types import Grounding, Usage

log = structlog.get_logger("purpose_agent.llm")


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom a routed request served: the agent (persona id) asked and the principal asking; None when
    the caller has neither to name."""

    agent_id: str | None = None
    principal: str | None = None


UNNAMED = Caller()


@dataclass(frozen=True, slots=True)
class RouteRecord:
    request_id: str
    attempts: tuple[Attempt, ...]
    model_used: str | None
    usage: Usage
    cost_usd: float | None
    latency_ms: float
    grounding: Grounding = field(default_factory=Grounding)
    caller: Caller = UNNAMED


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
        grounded=record.grounding.grounded,
        unsupported=list(record.grounding.unsupported),
        failovers=[
            {"provider": a.provider, "reason": a.reason.value, "latency_ms": a.latency_ms}
            for a in record.attempts
        ],
    )


def failover_rows(record: RouteRecord) -> list[dict[str, object]]:
    """The failover rows of one request: one per failed attempt."""
    return [
        {
            "request_id": record.request_id,
            "provider": attempt.provider,
            "model": attempt.model,
            "reason": attempt.reason.value,
            "detail": attempt.detail[:500],
            "status": attempt.status,
            "latency_ms": attempt.latency_ms,
            "answered_by": record.model_used,
        }
        for attempt in record.attempts
    ]


def usage_row(record: RouteRecord) -> dict[str, object]:
    """The usage row of one request."""
    return {
        "request_id": record.request_id,
        "model_used": record.model_used,
        "prompt_tokens": record.usage.prompt_tokens,
        "completion_tokens": record.usage.completion_tokens,
        "cost_usd": record.cost_usd,
        "latency_ms": record.latency_ms,
        "failed_attempts": len(record.attempts),
        "grounded": record.grounding.grounded,
        "unsupported_sentences": (
            len(record.grounding.unsupported) if record.grounding.grounded is not None else None
        ),
        "agent_id": record.caller.agent_id,
        "principal": record.caller.principal,
    }


class DatabaseRecorder:
    """Queues each record and writes the queue in batches, each batch in a transaction of its own."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        max_queued: int = 10_000,
        batch_size: int = 500,
        linger_seconds: float = 0.2,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.max_queued = max_queued
        self.batch_size = batch_size
        # How long the writer lets records gather after the first: one transaction for all of them,
        # instead of one per request when requests come one at a time.
        self.linger_seconds = linger_seconds
        self.dropped = 0
        self._queued: deque[RouteRecord] = deque()
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self._writer = BackgroundLoop(self._run)

    def submit(self, record: RouteRecord) -> None:
        log_route(record)
        if len(self._queued) >= self.max_queued:
            self._drop(1, "queue_full")
            return
        self._queued.append(record)
        self._writer.start()
        self._wake.set()

    async def drain(self) -> None:
        """Write every queued record now."""
        async with self._writing:
            while self._queued:
                batch = [self._queued.popleft() for _ in range(min(self.batch_size, len(self._queued)))]
                failovers = [row for record in batch for row in failover_rows(record)]
                try:
                    async with self.sessionmaker() as session, session.begin():
                        # Core inserts of plain rows, many at once: no ORM objects to track.
                        await session.execute(insert(UsageRecord), [usage_row(record) for record in batch])
                        if failovers:
                            await session.execute(insert(FailoverEvent), failovers)
                except Exception:
                    # Losing usage rows must never fail an answer that was already given.
                    log.exception("llm_route_not_recorded", records=len(batch))
                    self._drop(len(batch), "write_failed")

    async def aclose(self) -> None:
        """Stop the writer and write what is still queued."""
        await self._writer.aclose()
        await self.drain()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.linger_seconds)
            self._wake.clear()
            await self.drain()

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        log.warning("llm_route_records_dropped", records=count, reason=why, dropped_in_all=self.dropped)
