"""Security headers on every response; CORS only for whitelisted origins; HSTS only in production."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import AsyncClient

from purpose_agent.app import create_app
from purpose_agent.settings import AppEnv, Settings
from tests.conftest import LogCapture, api_client

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


@pytest.fixture
async def cors_client(settings: Settings, logs: LogCapture) -> AsyncIterator[AsyncClient]:
    changed = settings.changed(cors_allowed_origins="https://app.example.com", app_env=AppEnv.production)
    application = create_app(changed)
    async with LifespanManager(application), api_client(application) as client:
        yield client


async def test_every_response_carries_the_headers_and_a_strict_policy(client: AsyncClient) -> None:
    for response in (await client.get("/health"), await client.get("/no/such/route")):
        for name, value in EXPECTED.items():
            assert response.headers[name] == value
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert "permissions-policy" in response.headers
        assert "strict-transport-security" not in response.headers, "no HSTS in development"


async def test_the_docs_page_gets_only_what_its_local_assets_need(client: AsyncClient) -> None:
    policy = (await client.get("/api/docs")).headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy
    assert "unsafe-eval" not in policy
    assert "http" not in policy, "no other origin"


async def test_only_a_whitelisted_origin_gets_cors_headers_and_production_sends_hsts(
    cors_client: AsyncClient,
) -> None:
    allowed = await cors_client.get("/health", headers={"Origin": "https://app.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    other = await cors_client.get("/health", headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in other.headers
    preflight = await cors_client.options(
        "/api/chat",
        headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert allowed.headers["strict-transport-security"].startswith("max-age=")
