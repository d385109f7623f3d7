"""The async engine and the request-scoped session: the one place that commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.kit.app_context import context_of

# libpq's options against a server that vanished (its machine or the network gone, no reset sent): a
# connection, idle or waiting for an answer, is given up after about 25 s of unanswered TCP keepalives,
# and one whose query the server never acknowledges after 30 s. Without them, the kernel's limits: hours.
DEAD_PEER_DETECTION: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def create_engine(
    url: str, *, pool_size: int, connect_timeout: float, pool_timeout: float = 30.0
) -> AsyncEngine:
    """An async engine on psycopg 3 whose connections give up after `connect_timeout` seconds, and whose
    callers give up waiting for a free connection after `pool_timeout` (a 503 problem on the API).

    `pool_size` connections at most, kept open: no overflow, because overflow connections are closed
    when handed back, and under steady load that meant a new connection (a PostgreSQL process) every
    few requests. Transactions are short (none spans a model call), so requests wait for a free
    connection briefly instead."""
    # Looked up at each call, not imported by name: with TRACING_ENABLED the SQLAlchemy instrumentation
    # wraps the module's function at start, and every engine made after that is traced.
    return sqlalchemy_asyncio.create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        # A connection the server closed (it restarted) is found out and replaced before it is used.
        pool_pre_ping=True,
        connect_args={"connect_timeout": max(1, round(connect_timeout)), **DEAD_PEER_DETECTION},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


class DatabaseContext(Protocol):
    """The part of the application context that routes' sessions come from."""

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session: committed when the route succeeds, rolled back when it raises."""
    async with sessionmaker_of(request)() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


# Function scope: committed when the route returns, before the response is sent (a failed commit is
# never reported as success), and released before a streamed body starts.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def sessionmaker_of(request: Request) -> async_sessionmaker[AsyncSession]:
    """The app's sessionmaker, for routes that open short transactions of their own (none across a slow
    call such as a model's or an embedder's)."""
    context: DatabaseContext = context_of(request)
    return context.sessionmaker


SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(sessionmaker_of)]
