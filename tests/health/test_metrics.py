"""GET /metrics: Prometheus' text, route templates as labels, and who may read it."""

from __future__ import annotations

import uuid

from asgi_lifespan import LifespanManager
from httpx import AsyncClient

from purpose_agent import __version__
from purpose_agent.app import create_app
from purpose_agent.settings import Settings
from tests.conftest import Start, api_client, client_of
from tests.metrics import METRICS_PATH, moved, scrape, scraped
from tests.ports import free_port

TOKEN = "scrape-token-0123456789abcdef"
REMOTE = "203.0.113.9"


async def test_metrics_are_prometheus_text_with_the_api_families_only(anonymous_client: AsyncClient) -> None:
    metrics = await scrape(anonymous_client)
    assert metrics.value("purpose_agent_build_info", version=__version__) == 1
    assert metrics.has("process_cpu_seconds_total")
    assert metrics.has("python_info")
    # Readiness ran for the scrape: it had not run in this app yet.
    assert metrics.value("purpose_agent_readiness_check", check="database") == 1
    assert metrics.value("purpose_agent_readiness_check", check="redis") == 1
    assert metrics.value("purpose_agent_http_requests_in_flight") >= 1, "the scrape itself"
    # The worker's families are the worker's to show.
    assert "purpose_agent_jobs" not in metrics.families
    assert "purpose_agent_chunks_embedded" not in metrics.families


async def test_routes_are_labelled_by_their_template_and_unknown_paths_as_unmatched(
    user_client: AsyncClient,
) -> None:
    before = await scrape(user_client)
    first, second = uuid.uuid4(), uuid.uuid4()
    assert (await user_client.get(f"/api/sessions/{first}")).status_code == 404
    assert (await user_client.get(f"/api/sessions/{second}")).status_code == 404
    assert (await user_client.get(f"/no/such/{first}")).status_code == 404
    assert (await user_client.request("BREW", "/api/agents")).status_code == 405
    assert (await user_client.get("/api/docs/assets/swagger-ui.css")).status_code == 200
    after = await scrape(user_client)

    requests = "purpose_agent_http_requests_total"
    route = "/api/sessions/{session_id}"
    assert moved(before, after, requests, route=route, method="GET", status="404") == 2
    assert moved(before, after, requests, route="unmatched", method="GET", status="404") == 1
    assert moved(before, after, requests, route="/api/agents", method="other", status="405") == 1
    assert moved(before, after, "purpose_agent_http_request_duration_seconds_count", route=route) == 2
    mount = "/api/docs/assets/{path}"
    assert moved(before, after, requests, route=mount, method="GET", status="200") == 1
    routes = after.label_values(requests, "route")
    assert not any(str(first) in label or str(second) in label for label in routes)
    assert "/metrics" in routes


async def test_a_client_on_another_machine_needs_the_token(start: Start) -> None:
    async with start(metrics_token=TOKEN) as app, client_of(app, REMOTE) as remote:
        refused = await remote.get(METRICS_PATH)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/metrics-forbidden"
        assert refused.json()["instance"] == METRICS_PATH

        wrong = await remote.get(METRICS_PATH, headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 403
        basic = await remote.get(METRICS_PATH, headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 403

        allowed = scraped(await remote.get(METRICS_PATH, headers={"Authorization": f"Bearer {TOKEN}"}))
        assert allowed.has("purpose_agent_build_info")


async def test_without_a_token_only_loopback_clients_may_read(start: Start) -> None:
    async with start() as app:
        async with client_of(app, REMOTE) as remote:
            refused = await remote.get(METRICS_PATH, headers={"Authorization": f"Bearer {TOKEN}"})
            assert refused.status_code == 403
            assert "METRICS_TOKEN" in refused.json()["detail"]
        for local in ("127.0.0.1", "::1", "127.0.0.53"):
            async with client_of(app, local) as client:
                assert (await client.get(METRICS_PATH)).status_code == 200


async def test_a_request_through_a_proxy_is_not_taken_for_a_local_one(start: Start) -> None:
    async with start() as app, client_of(app, "127.0.0.1") as proxied:
        for header in ({"X-Forwarded-For": REMOTE}, {"Forwarded": f"for={REMOTE}"}):
            assert (await proxied.get(METRICS_PATH, headers=header)).status_code == 403


async def test_a_trusted_proxy_reports_the_client_that_needs_the_token(start: Start) -> None:
    async with (
        start(metrics_token=TOKEN, trusted_proxies="10.0.0.0/8") as app,
        client_of(app, "10.0.0.2") as proxied,
    ):
        forwarded = {"X-Forwarded-For": REMOTE}
        assert (await proxied.get(METRICS_PATH, headers=forwarded)).status_code == 403
        authorised = await proxied.get(
            METRICS_PATH, headers={**forwarded, "Authorization": f"Bearer {TOKEN}"}
        )
        assert authorised.status_code == 200


async def test_metrics_are_neither_documented_nor_rate_limited(start: Start) -> None:
    async with start(rate_limit_per_ip="1/minute") as app, api_client(app) as client:
        for _ in range(3):
            response = await client.get(METRICS_PATH)
            assert response.status_code == 200
            assert "ratelimit-limit" not in response.headers
        document = (await client.get("/openapi.json")).json()
        assert METRICS_PATH not in document["paths"]


async def test_a_scrape_runs_readiness_when_it_has_not_run_lately(settings: Settings) -> None:
    # Its own engine on a port where nothing listens: the gauge can only say so if the scrape checked.
    broken = settings.changed(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    app = create_app(broken)
    async with LifespanManager(app), api_client(app) as client:
        metrics = await scrape(client)
        assert metrics.value("purpose_agent_readiness_check", check="database") == 0
        assert metrics.value("purpose_agent_readiness_check", check="redis") == 1

    healthy = create_app(settings)
    async with LifespanManager(healthy), api_client(healthy) as client:
        assert (await client.get("/health/ready")).status_code == 200
        assert (await scrape(client)).value("purpose_agent_readiness_check", check="database") == 1
