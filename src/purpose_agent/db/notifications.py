"""Changes announced to every process through PostgreSQL's LISTEN/NOTIFY, for the caches to drop.

A key revoked, a user disabled or a persona changed in one process (an API replica or the command
line) must not be served from another's cache. The writer announces the change in its own
transaction (`announce`), and PostgreSQL delivers it to every listener when, and only if, that
transaction commits. Each API process keeps one connection listening (`ChangeListener`); while it
is down, the caches' short lifetimes bound how stale an entry can be, and on every (re)connection
the caches are emptied, since announcements may have been missed.

Our own code, because no library joins psycopg's `notifies()` to an asyncio service with
reconnection; it is one connection and one loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.db.engine import DEAD_PEER_DETECTION
from purpose_agent.kit.background import BackgroundLoop

log = structlog.get_logger("purpose_agent.db")

CHANNEL = "purpose_agent_changes"
RECONNECT_SECONDS = 2.0


async def announce(session: AsyncSession, subject: str) -> None:
    """Tell every listening process that `subject` changed, once this transaction commits."""
    await session.execute(
        text("SELECT pg_notify(:channel, :subject)"), {"channel": CHANNEL, "subject": subject}
    )


def libpq_url(sqlalchemy_url: str) -> str:
    """The URL as psycopg takes it (without SQLAlchemy's driver name)."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


class ChangeListener:
    """Calls `on_change(subject)` for each announcement; `on_gap()` whenever some may have been missed."""

    def __init__(
        self,
        url: str,
        on_change: Callable[[str], None],
        on_gap: Callable[[], None],
        *,
        connect_timeout: float = 5.0,
    ) -> None:
        self._url = libpq_url(url)
        self._on_change = on_change
        self._on_gap = on_gap
        self._connect_timeout = max(1, round(connect_timeout))
        self._loop = BackgroundLoop(self._run)
        self.listening = asyncio.Event()

    def start(self) -> None:
        self._loop.start()

    async def aclose(self) -> None:
        await self._loop.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change_listener_down", error=type(exc).__name__, retry_seconds=RECONNECT_SECONDS)
            self.listening.clear()
            self._on_gap()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=self._connect_timeout, **DEAD_PEER_DETECTION
        ) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            self._on_gap()  # whatever changed before this connection listened
            self.listening.set()
            async for notification in connection.notifies():
                self._on_change(notification.payload)
