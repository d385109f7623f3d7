"""The quota ledger when Redis hangs: a bounded wait, then this process's memory, then Redis again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from purpose_agent.auth.errors import QuotaExceeded
from purpose_agent.auth.principal import Quotas
from purpose_agent.auth.quotas import QuotaLedger, QuotaName

NOW = datetime(2031, 5, 31, 23, 59, 50, tzinfo=UTC)


@pytest.fixture
async def hanging_redis() -> AsyncIterator[str]:
    """A server that accepts connections and never answers: a Redis that hangs."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_hanging_redis_costs_one_bounded_wait_then_quotas_hold_in_memory(hanging_redis: str) -> None:
    redis = Redis.from_url(hanging_redis, socket_timeout=5, socket_connect_timeout=5)
    ledger = QuotaLedger(redis, timeout=0.3, retry_after=60)
    key, quotas = uuid.uuid4(), Quotas(requests_per_day=2)
    try:
        started = time.monotonic()
        await ledger.admit(key, quotas, NOW)
        assert time.monotonic() - started < 1.0, "the ledger's own timeout, not the client's"
        assert ledger.degraded
        started = time.monotonic()
        await ledger.admit(key, quotas, NOW)
        with pytest.raises(QuotaExceeded) as refused:
            await ledger.admit(key, quotas, NOW)
        assert time.monotonic() - started < 0.1, "Redis is skipped while it is down"
        assert (refused.value.extensions["quota"], refused.value.headers["Retry-After"]) == (
            "requests_per_day",
            "10",
        )
        uses = {use.quota: use.used for use in await ledger.uses(key, quotas, NOW)}
        assert uses[QuotaName.requests_per_day] == 2
    finally:
        await redis.aclose()
