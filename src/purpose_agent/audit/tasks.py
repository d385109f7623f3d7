"""The worker's hourly removal of audit entries past their retention, in batches of bounded size."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from procrastinate import Blueprint
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.audit.service import delete_older_than
from purpose_agent.jobs.queue import MAINTENANCE_QUEUE

log = structlog.get_logger("purpose_agent.auth")

RETENTION_TASK = "auth.delete_expired_audit"
RETENTION_BATCH = 1000


async def delete_expired_audit(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, retention_days: int, batch: int
) -> int:
    """Delete every entry older than `retention_days` at `now`, `batch` at a time; how many went."""
    if retention_days < 1:
        # Zero would empty the whole log: never what a misconfiguration should be able to do.
        raise ValueError("retention_days must be at least 1")
    cutoff = now - timedelta(days=retention_days)
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            deleted = await delete_older_than(session, cutoff, batch)
        total += deleted
        if deleted < batch:
            break
    if total:
        log.info("audit_entries_expired", deleted=total, retention_days=retention_days)
    return total


def audit_retention_blueprint(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    retention_days: int,
    batch: int = RETENTION_BATCH,
) -> Blueprint:
    """The hourly task that keeps the audit log to its retention."""
    blueprint = Blueprint()

    @blueprint.periodic(cron="41 * * * *")
    @blueprint.task(name=RETENTION_TASK, queue=MAINTENANCE_QUEUE, queueing_lock=RETENTION_TASK)
    async def delete_expired(timestamp: int) -> int:
        return await delete_expired_audit(sessionmaker, clock(), retention_days, batch)

    return blueprint
