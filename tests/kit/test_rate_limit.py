"""Rate limits as a client meets them: per address, per credential, per route class, across processes.

Everything runs against the real Redis of the test run, each test under a key prefix of its own
(see `conftest.py`); Redis failures are in `test_rate_limit_redis_failure.py`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from purpose_agent.cli.common import stop_child
from purpose_agent.kit.client_address import ProxyHeader
from purpose_agent.kit.rate_limit import RateLimiter
from purpose_agent.settings import SettingsError, load_settings
from tests.app_context import context
from tests.conftest import Start, client_of
from tests.kit.conftest import CHEAP_ROUTE, assert_refused
from tests.metrics import moved, scrape
from tests.ports import free_port
from tests.processes import wait_until_answers
from tests.test_cli import COMMAND, Service

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_the_eleventh_request_of_ten_per_minute_is_refused_with_retry_after(start: Start) -> None:
    async with start(rate_limit_per_ip="10/minute") as app, client_of(app) as client:
        for remaining in range(9, -1, -1):
            response = await client.get(CHEAP_ROUTE)
            assert response.status_code == 401, "refused by authentication, counted all the same"
            assert response.headers["ratelimit-limit"] == "10"
            assert response.headers["ratelimit-remaining"] == str(remaining)
            assert 0 <= int(response.headers["ratelimit-reset"]) <= 60

        refused = await client.get(CHEAP_ROUTE, headers={"X-Request-ID": "over-the-limit"})
        body = assert_refused(refused, "Rate limit of 10 per 1 minute per IP address reached")
        assert refused.headers["ratelimit-limit"] == "10"
        assert refused.headers["x-request-id"] == body["request_id"] == "over-the-limit"
        assert body["retry_after"] == int(refused.headers["retry-after"])

        # Another client address has its own allowance.
        async with client_of(app, "198.51.100.20") as other:
            assert (await other.get(CHEAP_ROUTE)).status_code == 401


async def test_a_browser_can_read_a_refusal_of_an_allowed_origin(start: Start) -> None:
    origin = "https://app.example.com"
    async with (
        start(rate_limit_per_ip="1/minute", cors_allowed_origins=origin) as app,
        client_of(app) as client,
    ):
        await client.get(CHEAP_ROUTE, headers={"Origin": origin})
        refused = await client.get(CHEAP_ROUTE, headers={"Origin": origin})
        assert refused.status_code == 429
        assert refused.headers["access-control-allow-origin"] == origin
        assert "retry-after" in refused.headers["access-control-expose-headers"].lower()


async def test_each_credential_has_its_own_bucket_and_the_address_limit_holds_over_them(
    start: Start, user_key: str
) -> None:
    async with start(rate_limit_per_ip="10/minute", rate_limit_per_principal="4/minute") as app:
        async with client_of(app, key=user_key) as valid:
            for remaining in (3, 2, 1, 0):
                response = await valid.get(CHEAP_ROUTE)
                assert response.status_code == 200
                # The tightest limit is reported: the key's, not the address's (9, 8, 7, 6 left).
                assert (response.headers["ratelimit-limit"], response.headers["ratelimit-remaining"]) == (
                    "4",
                    str(remaining),
                )
            assert_refused(await valid.get(CHEAP_ROUTE), "4 per 1 minute per credential")

        # A made-up credential gets a bucket of its own, and the address limit still holds.
        async with client_of(app, key="pa_made_up") as made_up:
            for _ in range(4):
                assert (await made_up.get(CHEAP_ROUTE)).status_code == 401
        async with client_of(app, key="pa_another_made_up") as another:
            assert (await another.get(CHEAP_ROUTE)).status_code == 401
            assert_refused(await another.get(CHEAP_ROUTE), "10 per 1 minute per IP address")

        # The key's bucket follows the key to another address; a new key there is admitted.
        async with client_of(app, "198.51.100.30", key=user_key) as moved:
            assert_refused(await moved.get(CHEAP_ROUTE), "per credential")
        async with client_of(app, "198.51.100.30") as fresh:
            response = await fresh.get(CHEAP_ROUTE, headers={"Authorization": "Bearer pa_third_made_up"})
            assert response.status_code == 401


async def test_chat_and_mcp_are_limited_tighter_than_other_routes(start: Start, user_key: str) -> None:
    async with (
        start(
            rate_limit_per_principal="100/minute", rate_limit_chat="3/minute", rate_limit_mcp="2/minute"
        ) as app,
        client_of(app, key=user_key) as client,
    ):
        for remaining in (2, 1, 0):
            response = await client.post("/api/chat", json={})
            assert response.status_code == 422
            assert response.headers["ratelimit-limit"] == "3"
            assert response.headers["ratelimit-remaining"] == str(remaining)
        assert_refused(await client.post("/api/chat", json={}), "3 per 1 minute for chat")
        # One allowance for every chat route.
        assert_refused(await client.post("/api/chat/stream", json={}), "for chat")
        assert_refused(await client.post("/v1/chat/completions", json={}), "for chat")

        for _ in range(2):
            assert (await client.get("/api/mcp")).status_code != 429
        assert_refused(await client.post("/api/mcp/", json={}), "2 per 1 minute for mcp")

        listed = await client.get(CHEAP_ROUTE)
        assert listed.status_code == 200, "other routes keep the key's general allowance"

        # Without credentials the chat limit is per address.
        async with client_of(app, "198.51.100.40") as anonymous:
            for _ in range(3):
                assert (await anonymous.post("/api/chat", json={})).status_code == 401
            assert_refused(await anonymous.post("/api/chat", json={}), "for chat")


async def test_health_docs_openapi_and_metrics_are_never_limited(start: Start) -> None:
    async with start(rate_limit_per_ip="1/minute") as app, client_of(app) as client:
        for _ in range(3):
            for path in ("/health", "/health/ready", "/openapi.json", "/api/docs", "/metrics"):
                response = await client.get(path)
                assert response.status_code != 429, path
                assert "ratelimit-limit" not in response.headers
        assert (await client.get(CHEAP_ROUTE)).status_code == 401
        assert_refused(await client.get(CHEAP_ROUTE), "1 per 1 minute per IP address")
        assert (await client.get("/health")).status_code == 200


async def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(start: Start) -> None:
    async with (
        start(rate_limit_per_ip="2/minute", trusted_proxies="10.0.0.0/8") as app,
        client_of(app, "203.0.113.9") as client,
    ):
        for n in range(2):
            response = await client.get(CHEAP_ROUTE, headers={"X-Forwarded-For": f"198.51.100.{n}"})
            assert response.status_code == 401
        refused = await client.get(CHEAP_ROUTE, headers={"X-Forwarded-For": "198.51.100.99"})
        assert_refused(refused, "per IP address")


async def test_a_trusted_proxy_names_the_client_and_cannot_be_used_to_spoof_one(start: Start) -> None:
    async with (
        start(rate_limit_per_ip="2/minute", trusted_proxies="10.0.0.0/8,192.0.2.1") as app,
        client_of(app, "10.1.2.3") as proxy,
    ):

        async def via_proxy(forwarded_for: str) -> int:
            return (await proxy.get(CHEAP_ROUTE, headers={"X-Forwarded-For": forwarded_for})).status_code

        assert [await via_proxy("198.51.100.7") for _ in range(3)] == [401, 401, 429]
        assert await via_proxy("198.51.100.8") == 401, "another client behind the proxy has its own allowance"
        # Whatever the client writes left of the address the proxy saw counts for nothing.
        assert await via_proxy("1.1.1.1, 198.51.100.7") == 429
        # Through two of our proxies, the first hop that is not ours is the client.
        assert await via_proxy("198.51.100.8, 192.0.2.1") == 401
        assert await via_proxy("198.51.100.8, 192.0.2.1") == 429
        # A hop that is no address ends the walk at the proxy that wrote it.
        assert [await via_proxy("unknown") for _ in range(3)] == [401, 401, 429]
        assert (await proxy.get(CHEAP_ROUTE)).status_code == 429, "that was the proxy's own allowance"


async def test_the_forwarded_header_when_configured_and_ipv6_clients_per_64(start: Start) -> None:
    async with (
        start(
            rate_limit_per_ip="2/minute",
            trusted_proxies="10.0.0.0/8",
            proxy_client_header=ProxyHeader.forwarded,
        ) as app,
        client_of(app, "10.1.2.3") as proxy,
    ):

        async def via_proxy(headers: dict[str, str]) -> int:
            return (await proxy.get(CHEAP_ROUTE, headers=headers)).status_code

        assert await via_proxy({"Forwarded": 'for="[2001:db8:0:1::1]:4711";proto=https'}) == 401
        assert await via_proxy({"Forwarded": 'for="[2001:db8:0:1::ffff]"'}) == 401, "same /64"
        assert await via_proxy({"Forwarded": "for=192.0.2.60, for=10.0.0.9"}) == 401
        assert await via_proxy({"Forwarded": 'for="[2001:db8:0:1:aaaa::2]"'}) == 429
        assert await via_proxy({"Forwarded": 'for="[2001:db8:0:2::1]"'}) == 401, "another /64"
        # The header the proxies do not write is the client's own: ignored.
        assert await via_proxy({"X-Forwarded-For": "192.0.2.99"}) == 401
        assert await via_proxy({"X-Forwarded-For": "192.0.2.98"}) == 401
        assert await via_proxy({"X-Forwarded-For": "192.0.2.97"}) == 429


async def test_limits_can_be_turned_off(start: Start) -> None:
    async with start(rate_limit_enabled=False, rate_limit_per_ip="1/minute") as app, client_of(app) as client:
        for _ in range(5):
            response = await client.get(CHEAP_ROUTE)
            assert response.status_code == 401
            assert "ratelimit-limit" not in response.headers


async def test_other_code_takes_its_own_limits_from_the_app_s_limiter(start: Start) -> None:
    async with start() as app:
        limiter: RateLimiter = context(app).rate_limiter
        before = await limiter.peek("2/minute", "login", "user", "ann")
        assert (before.allowed, before.remaining) == (True, 2)

        first = await limiter.hit("2/minute", "login", "user", "ann")
        second = await limiter.hit("2/minute", "login", "user", "ann")
        third = await limiter.hit("2/minute", "login", "user", "ann")
        assert [(d.allowed, d.remaining) for d in (first, second, third)] == [
            (True, 1),
            (True, 0),
            (False, 0),
        ]
        assert 1 <= third.retry_after <= 60
        assert not (await limiter.peek("2/minute", "login", "user", "ann")).allowed

        assert (await limiter.hit("2/minute", "login", "user", "bob")).allowed
        # Key parts are kept apart even when one holds the separator.
        assert (await limiter.hit("1/minute", "login", "user/ann")).allowed
        assert (await limiter.hit("1/minute", "login", "user", "ann/x")).allowed


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATE_LIMIT_PER_IP", "lots"),
        ("RATE_LIMIT_PER_PRINCIPAL", "10/fortnight"),
        ("RATE_LIMIT_CHAT", "0/minute"),
        ("RATE_LIMIT_MCP", ""),
        ("RATE_LIMIT_ON_REDIS_FAILURE", "ignore"),
        ("RATE_LIMIT_REDIS_URL", "http://127.0.0.1:6379"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("PROXY_CLIENT_HEADER", "x-real-ip"),
    ],
)
def test_a_bad_rate_limit_setting_stops_the_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"invalid setting {name}:")


# --- Across processes ---------------------------------------------------------------------------


async def _admitted_by_processes(limit: str, hits_per_process: list[int]) -> int:
    # One limiter per simulated process: each its own connection pool, all on one Redis.
    prefix = f"test:{uuid.uuid4().hex}"
    # A generous timeout: under a loaded 2-core test run, the 0.5 s default can expire, and a limiter
    # that falls back to memory is not what this property is about.
    limiters = [
        RateLimiter(redis_url=REDIS_URL, key_prefix=prefix, redis_timeout=10.0) for _ in hits_per_process
    ]
    try:
        hits = [
            limiter.hit(limit, "shared", "key")
            for limiter, count in zip(limiters, hits_per_process, strict=True)
            for _ in range(count)
        ]
        decisions = await asyncio.gather(*hits)
        assert all(limiter.health().state == "shared" for limiter in limiters)
    finally:
        for limiter in limiters:
            await limiter.aclose()
    return sum(decision.allowed for decision in decisions)


@hypothesis_settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=25),
    hits_per_process=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=6),
)
def test_processes_sharing_redis_admit_at_most_n_per_window(n: int, hits_per_process: list[int]) -> None:
    # PROPERTIES 25. An hour-long window: nothing leaves it during the example.
    admitted = asyncio.run(_admitted_by_processes(f"{n}/hour", hits_per_process))
    assert admitted <= n
    assert admitted == min(n, sum(hits_per_process)), "and no fewer than n when more were asked for"


class ServeProcess:
    """One `purpose-agent serve` on a port of its own, its output in a file; stopped by pid."""

    def __init__(self, service: Service, env: dict[str, str]) -> None:
        self.port = free_port()
        self.output = service.workdir / f"serve-{self.port}.log"
        with self.output.open("ab") as sink:
            self.process = subprocess.Popen(
                [COMMAND, "serve", "--port", str(self.port)],
                cwd=service.workdir,
                env={**service.env, **env},
                stdout=sink,
                stderr=sink,
            )
        self.base_url = f"http://127.0.0.1:{self.port}"

    def wait_until_up(self) -> None:
        wait_until_answers(self.process, f"{self.base_url}/health", self.output)

    def stop(self) -> None:
        stop_child(self.process)


@pytest.fixture
def migrated_service(tmp_path: Path, redis_url: str) -> Iterator[Service]:
    """An embedded database of its own, started and migrated; stopped at the end."""
    service = Service(tmp_path, redis_url)
    assert service.run("db", "start").returncode == 0
    assert service.run("migrate").returncode == 0
    yield service
    service.kill()


def test_two_api_processes_sharing_redis_enforce_one_limit_together(migrated_service: Service) -> None:
    env = {"RATE_LIMIT_PER_IP": "10/minute", "RATE_LIMIT_KEY_PREFIX": f"test:{uuid.uuid4().hex}"}
    processes = [ServeProcess(migrated_service, env) for _ in range(2)]
    try:
        for process in processes:
            process.wait_until_up()
        first, second = (process.base_url for process in processes)
        for n in range(10):
            response = httpx.get(f"{(first, second)[n % 2]}{CHEAP_ROUTE}")
            assert response.status_code == 401
            assert response.headers["ratelimit-remaining"] == str(9 - n), "one count for both processes"
        for base_url in (first, second):
            assert_refused(httpx.get(f"{base_url}{CHEAP_ROUTE}"), "10 per 1 minute per IP address")
    finally:
        for process in processes:
            process.stop()


async def test_refusals_are_counted_by_the_class_of_the_limit_and_keep_their_route(start: Start) -> None:
    async with (
        start(rate_limit_per_ip="2/minute", rate_limit_chat="1/minute") as app,
        client_of(app) as client,
    ):
        async with client_of(app, "127.0.0.1") as local:
            before = await scrape(local)
        await client.post("/api/chat", json={})
        assert_refused(await client.post("/api/chat", json={}), "for chat")
        assert_refused(await client.get(CHEAP_ROUTE), "per IP address")
        async with client_of(app, "127.0.0.1") as local:
            after = await scrape(local)

    refusals = "purpose_agent_rate_limit_refusals_total"
    assert moved(before, after, refusals, **{"class": "chat"}) == 1
    assert moved(before, after, refusals, **{"class": "default"}) == 1
    # Refused before routing, yet counted under the route they were for, not as unmatched.
    requests = "purpose_agent_http_requests_total"
    assert moved(before, after, requests, route="/api/chat", method="POST", status="429") == 1
    assert moved(before, after, requests, route=CHEAP_ROUTE, method="GET", status="429") == 1
