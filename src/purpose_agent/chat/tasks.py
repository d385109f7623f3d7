"""The worker's periodic cleanup of expired sessions, in batches so no transaction grows large."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from procrastinate import Blueprint
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.chat.sessions import delete_expired
from purpose_agent.jobs.queue import MAINTENANCE_QUEUE
from purpose_agent.kit.metrics import CHAT_SESSIONS_EXPIRED

log = structlog.get_logger("purpose_agent.chat")

CLEANUP_TASK = "chat.delete_expired_sessions"


async def delete_expired_sessions(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, batch: int
) -> int:
    """Delete every session expired at `now`, `batch` at a time; how many went."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            deleted = await delete_expired(session, now, batch)
        total += deleted
        CHAT_SESSIONS_EXPIRED.inc(deleted)  # per batch: each is committed on its own
        if deleted < batch:
            break
    if total:
        log.info("sessions_expired", deleted=total)
    return total


def session_cleanup_blueprint(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Callable[[], datetime], batch: int
) -> Blueprint:
    blueprint = Blueprint()

    @blueprint.periodic(cron="*/5 * * * *")
    @blueprint.task(name=CLEANUP_TASK, queue=MAINTENANCE_QUEUE, queueing_lock=CLEANUP_TASK)
    async def cleanup(timestamp: int) -> int:
        return await delete_expired_sessions(sessionmaker, clock(), batch)

    return blueprint
