"""Liveness never touches a dependency; readiness names each one that fails."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from purpose_agent import __version__
from purpose_agent.app import create_app
from purpose_agent.settings import Settings
from tests.ports import free_port


async def client_for(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_liveness_answers_with_the_version(client: AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


async def test_ready_when_database_and_redis_answer(client: AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["database"]["latency_ms"] >= 0


@pytest.fixture
async def client_without_database(settings: Settings) -> AsyncIterator[AsyncClient]:
    broken = settings.changed(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    async for client in client_for(broken):
        yield client


async def test_not_ready_names_the_database_when_it_is_down(client_without_database: AsyncClient) -> None:
    liveness = await client_without_database.get("/health")
    assert liveness.status_code == 200

    response = await client_without_database.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["failed"] == ["database"]
    assert "database" in body["detail"]
    assert body["checks"]["database"]["status"] == "failed"
    assert body["checks"]["redis"]["status"] == "ok"


@pytest.fixture
async def client_without_redis(settings: Settings) -> AsyncIterator[AsyncClient]:
    broken = settings.changed(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async for client in client_for(broken):
        yield client


async def test_redis_down_is_degraded_not_unready(client_without_redis: AsyncClient) -> None:
    response = await client_without_redis.get("/health/ready")
    assert response.status_code == 200, "the process still serves: no replica is taken out of service"
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["status"] == "degraded"
    assert "this process's memory" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["status"] == "ok"
    # The breakers fall back to this process's memory while their Redis is down.
    assert body["providers"]["local"]["breaker"] == "closed"


@pytest.fixture
async def client_with_no_redis_configured(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for client in client_for(settings.changed(redis_url="")):
        yield client


async def test_redis_is_skipped_when_not_configured(client_with_no_redis_configured: AsyncClient) -> None:
    response = await client_with_no_redis_configured.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"]["status"] == "skipped"


async def test_readiness_lists_the_providers_without_calling_them(client: AsyncClient) -> None:
    providers = (await client.get("/health/ready")).json()["providers"]
    assert providers["openai"] == {
        "configured": False,
        "in_chain": False,
        "model": "gpt-4o",
        "breaker": "closed",
    }
    assert providers["local"]["configured"] is True
    assert providers["local"]["in_chain"] is True
