"""The console's page and assets as the API serves them: under a policy that allows nothing inline,
nothing from another origin and no HTML sink, within the size budget, never rate limited."""

from __future__ import annotations

import re

from httpx import AsyncClient

from purpose_agent.kit.console import assets_dir

ASSET_BUDGET_BYTES = 300 * 1024


async def test_the_page_is_served_at_the_root_under_a_strict_policy(anonymous_client: AsyncClient) -> None:
    response = await anonymous_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["require-trusted-types-for"] == "'script'"
    assert policy["trusted-types"] == "'none'"
    assert "<script>" not in response.text, "no inline script"
    assert "style=" not in response.text, "no inline style"


async def test_every_asset_the_page_and_its_modules_name_is_served(anonymous_client: AsyncClient) -> None:
    page = (await anonymous_client.get("/")).text
    named = set(re.findall(r'(?:src|href)="(/console/[^"]+)"', page))
    for module in (assets_dir() / "js").glob("*.js"):
        named |= {f"/console/js/{name}" for name in re.findall(r'from "\./([a-z]+\.js)"', module.read_text())}
    assert {"/console/js/main.js", "/console/js/chat.js"} <= named
    for path in sorted(named):
        response = await anonymous_client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-cache", "revalidated, so an upgrade is seen at once"


def test_the_assets_weigh_less_than_the_budget_uncompressed() -> None:
    shipped = [path for path in assets_dir().rglob("*") if path.is_file() and path.suffix != ".md"]
    assert sum(path.stat().st_size for path in shipped) < ASSET_BUDGET_BYTES


async def test_the_console_is_not_rate_limited_but_its_api_calls_are(anonymous_client: AsyncClient) -> None:
    for path in ("/", "/console/js/api.js"):
        response = await anonymous_client.get(path)
        assert "ratelimit-limit" not in response.headers, path
    assert "ratelimit-limit" in (await anonymous_client.get("/api/agents")).headers
