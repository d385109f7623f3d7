"""What the rate-limit tests share: the real app under a test's own limits and Redis key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.app import create_app
from purpose_agent.settings import Settings
from tests.app_context import swap_context
from tests.conftest import LogCapture

CHEAP_ROUTE = "/api/agents"  # 401 without credentials, 200 with a user key: either way it counts

Start = Callable[..., AbstractAsyncContextManager[FastAPI]]


@pytest.fixture
def start(
    settings: Settings,
    engine: AsyncEngine,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    redis_prefix: str,
    logs: LogCapture,
) -> Start:
    """Run the real app with these rate-limit settings, under this test's own Redis key prefix."""

    @asynccontextmanager
    async def running(**updates: Any) -> AsyncIterator[FastAPI]:
        configured = settings.changed(rate_limit_key_prefix=redis_prefix, **updates)
        app = create_app(configured, engine=engine)
        async with LifespanManager(app):
            swap_context(app, sessionmaker=test_sessionmaker)
            yield app

    return running


def client_of(app: FastAPI, address: str = "203.0.113.7", key: str | None = None) -> AsyncClient:
    """A client of the app whose socket peer is `address`."""
    transport = ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40_000))
    headers = {"X-API-Key": key} if key else {}
    return AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


def assert_refused(response: httpx.Response, detail_part: str) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == "/problems/rate-limited"
    assert detail_part in body["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-remaining"] == "0"
    return body
