"""When each API key was last used, written off the request path and at most once a minute per key.

Writing `last_used_at` inside the request's transaction locked the key's row for the whole request,
so every request with one key waited for the one before it. Uses are now noted in memory and
written by a background task in a short transaction of their own, one statement for every key
noted since the last write. A write that fails is logged and the uses it held are noted again
later; no request ever waits for it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import cast

import structlog
from cachetools import TTLCache
from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.auth.models import ApiKey
from purpose_agent.kit.background import BackgroundLoop

log = structlog.get_logger("purpose_agent.auth")

# Keys whose last write is remembered; past this, a key may be written twice in one interval.
REMEMBERED_KEYS = 100_000


class KeyUseRecorder:
    """Notes key uses and writes each key's newest at most once per `interval_seconds`."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], interval_seconds: float = 60.0
    ) -> None:
        self._sessionmaker = sessionmaker
        self._written: TTLCache[uuid.UUID, datetime] = TTLCache(REMEMBERED_KEYS, ttl=interval_seconds)
        self._pending: dict[uuid.UUID, datetime] = {}
        self._wake = asyncio.Event()
        self._writer = BackgroundLoop(self._run)

    def note(self, key_id: uuid.UUID, used_at: datetime) -> None:
        """A use of the key; cheap, never waits."""
        if key_id in self._written:
            return
        self._written[key_id] = used_at
        self._pending[key_id] = used_at
        self._wake.set()

    def start(self) -> None:
        """Write in the background from now on (the app's lifespan starts it)."""
        self._writer.start()

    async def aclose(self) -> None:
        """Stop the background writer and write what is still pending."""
        await self._writer.aclose()
        await self.flush()

    async def flush(self) -> None:
        """Write every pending use now, in one statement."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        # Core, not the ORM: one UPDATE executed for many keys (executemany).
        table = cast(Table, ApiKey.__table__)
        statement = (
            update(table).where(table.c.id == bindparam("key_id")).values(last_used_at=bindparam("used_at"))
        )
        try:
            async with self._sessionmaker() as session, session.begin():
                await session.execute(
                    statement, [{"key_id": key, "used_at": at} for key, at in pending.items()]
                )
        except Exception:
            log.exception("key_use_not_recorded", keys=len(pending))
            for key in pending:  # noted again on the key's next use
                self._written.pop(key, None)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
