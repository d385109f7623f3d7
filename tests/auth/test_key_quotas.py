"""Quotas per key: requests and tokens per day, cost per month, enforced through Redis across replicas.

The app's clock is set a little before a UTC midnight that ends a month, so that the reset each 429
names can be checked to the second, and moved past it to see the key admitted again (the counters
then expire in seconds, leaving nothing behind in the shared Redis). Two servers of their own (uvicorn,
real connections, a committed key) show that the count is one for both and never overshoots.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from purpose_agent.auth.keys import create_key
from purpose_agent.auth.models import ApiKey, KeyUsageDay
from purpose_agent.auth.principal import Role
from purpose_agent.personas.models import Persona
from purpose_agent.settings import Settings
from tests.app_context import swap_context
from tests.auth.limits import (
    ANSWER_COST,
    WARRANTY,
    MovableClock,
    agents,
    answers,
    ask,
    make_key,
    refused,
    settings,
)
from tests.conftest import LogCapture, Start, api_client
from tests.live_server import LiveServer
from tests.mcp.conftest import mcp_client, structured
from tests.ports import free_port

__all__ = ["agents", "answers", "settings"]

BEFORE_MIDNIGHT = datetime(2031, 5, 31, 23, 59, 30, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2031, 6, 1, 0, 0, 5, tzinfo=UTC)
RESET = "2031-06-01T00:00:00Z"


@pytest.fixture
def clock(app: FastAPI) -> MovableClock:
    """The app's clock, 30 seconds before the end of May 2031 (UTC)."""
    moved = MovableClock(BEFORE_MIDNIGHT)
    swap_context(app, clock=moved)
    return moved


async def test_a_requests_quota_refuses_the_next_request_until_its_reset(
    app: FastAPI, client: AsyncClient, clock: MovableClock
) -> None:
    _, secret = await make_key(client, requests_per_day=3)
    async with api_client(app, secret) as key:
        for _ in range(3):
            assert (await key.get("/api/agents")).status_code == 200
        response = await key.get("/api/agents")
        problem = refused(response, 429, "quota-exceeded")
        assert (problem["quota"], problem["limit"], problem["used"]) == ("requests_per_day", 3, 3)
        assert problem["reset"] == RESET
        assert response.headers["retry-after"] == "30"
        assert "quota requests_per_day of 3 is used up" in problem["detail"]
        refused(await key.get("/api/agents"), 429, "quota-exceeded")

        clock.now = AFTER_MIDNIGHT
        assert (await key.get("/api/agents")).status_code == 200, "a new day, a new count"


async def test_tokens_are_counted_after_each_answer_and_the_next_request_is_refused(
    app: FastAPI, client: AsyncClient, clock: MovableClock, agents: list[Persona]
) -> None:
    _, secret = await make_key(client, tokens_per_day=20)
    async with api_client(app, secret) as key:
        assert (await ask(key)).status_code == 200  # 16 tokens: under 20
        streamed = await key.post(
            "/api/chat/stream", json={"agent_id": "kettle-helper", "question": WARRANTY}
        )
        assert "event: done" in streamed.text  # 32 tokens: over, known only now
        problem = refused(await ask(key), 429, "quota-exceeded")
        assert (problem["quota"], problem["limit"], problem["used"]) == ("tokens_per_day", 20, 32)
        assert problem["reset"] == RESET
        # Over one quota, the key is refused everything until it resets.
        refused(await key.get("/api/agents"), 429, "quota-exceeded")
        clock.now = AFTER_MIDNIGHT
        assert (await ask(key)).status_code == 200


async def test_a_monthly_cost_quota_counts_every_surface_and_resets_with_the_month(
    app: FastAPI, client: AsyncClient, clock: MovableClock, agents: list[Persona]
) -> None:
    _, secret = await make_key(client, cost_per_month_usd=0.02)
    # First through MCP: its client lists the tools again after the call, a request that must pass.
    async with mcp_client(app, secret) as mcp:
        structured(await mcp.call_tool("ask_agent", {"agent_id": "kettle-helper", "question": WARRANTY}))
    async with api_client(app, secret) as key:
        completion = await key.post(
            "/v1/chat/completions",
            json={"model": "kettle-helper", "messages": [{"role": "user", "content": WARRANTY}]},
        )
        assert completion.status_code == 200, completion.text
        response = await ask(key)
        problem = refused(response, 429, "quota-exceeded")
        assert problem["quota"] == "cost_per_month_usd"
        assert (problem["limit"], problem["used"]) == (0.02, pytest.approx(2 * ANSWER_COST))
        assert (problem["reset"], response.headers["retry-after"]) == (RESET, "30")
        clock.now = AFTER_MIDNIGHT
        assert (await ask(key)).status_code == 200, "a new month"


@pytest.fixture
async def committed_key(engine: AsyncEngine) -> AsyncIterator[str]:
    """A key with a quota of 8 requests a day, committed (two servers of their own read it); deleted
    afterwards with its usage."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as session, session.begin():
        issued = await create_key(
            session, name="shared quota", role=Role.user, limits={"requests_per_day": 8}
        )
    try:
        yield issued.secret
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(KeyUsageDay).where(KeyUsageDay.key_id == issued.id))
            await session.execute(delete(ApiKey).where(ApiKey.id == issued.id))


async def test_two_instances_on_one_redis_share_a_keys_quota(settings: Settings, committed_key: str) -> None:
    servers = [LiveServer(settings.changed(rate_limit_enabled=False)).start() for _ in range(2)]
    try:
        async with (
            httpx.AsyncClient(base_url=servers[0].base_url, headers={"X-API-Key": committed_key}) as one,
            httpx.AsyncClient(base_url=servers[1].base_url, headers={"X-API-Key": committed_key}) as other,
        ):
            # Twelve at once, six on each: exactly the quota's eight pass, whichever server they reach.
            responses = await asyncio.gather(*(client.get("/api/agents") for client in [one, other] * 6))
            assert sorted(response.status_code for response in responses) == [200] * 8 + [429] * 4
            for client in (one, other):
                problem = refused(await client.get("/api/agents"), 429, "quota-exceeded")
                assert (problem["limit"], problem["used"]) == (8, 8)
    finally:
        for server in servers:
            server.stop()


async def test_with_redis_down_each_instance_keeps_the_quota_in_memory(
    start: Start, admin_key: str, logs: LogCapture
) -> None:
    async with start(redis_url=f"redis://127.0.0.1:{free_port()}/0") as app:
        async with api_client(app, admin_key) as admin:
            _, secret = await make_key(admin, requests_per_day=2)
        async with api_client(app, secret) as key:
            for _ in range(2):
                assert (await key.get("/api/agents")).status_code == 200
            problem = refused(await key.get("/api/agents"), 429, "quota-exceeded")
            assert (problem["quota"], problem["used"]) == ("requests_per_day", 2)
    assert any(record.get("event") == "quotas_in_memory" for record in logs.records())
