"""MCP against real processes: two `serve` behind a round-robin balancer, and `purpose-agent mcp` (stdio).

One deployment for the module: an embedded PostgreSQL in a temporary folder, migrated, with keys
made by `purpose-agent keys create`, a persona and a small manual ingested. Every process is
stopped by its own id at the end.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from purpose_agent.cli.common import stop_child
from tests.mcp.conftest import structured, text
from tests.ports import free_port
from tests.processes import wait_until_answers

COMMAND = str(Path(sys.executable).with_name("purpose-agent"))
MANUAL = """# Kettle manual

## Cleaning

Descale the kettle monthly with white vinegar. Rinse twice before boiling again.

## Warranty

The heating element is covered for five years. Keep the receipt to claim a repair.
"""
PERSONA = {
    "id": "kettle-helper",
    "name": "Kettle helper",
    "description": "Answers questions about the kettle.",
    "knowledge_category": "manuals",
}


class Deployment:
    """A database with data in it, and the `purpose-agent` commands run against it."""

    def __init__(self, workdir: Path, redis_url: str) -> None:
        self.workdir = workdir
        db_port = free_port()
        self.env = {
            **{key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "PORT"}},
            "DATA_DIR": str(workdir / ".data"),
            "EMBEDDED_DB_PORT": str(db_port),
            "REDIS_URL": redis_url,
            # Buckets of this run only, in the shared Redis.
            "RATE_LIMIT_KEY_PREFIX": f"test:{uuid.uuid4().hex}:rate-limit",
            "PERSONAS_FILE": str(workdir / "no-personas-file.json"),
        }
        self.database_url = f"postgresql://postgres@127.0.0.1:{db_port}/purpose_agent"
        self.processes: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str, **env: str) -> str:
        result = subprocess.run(
            [COMMAND, *args],
            cwd=self.workdir,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def prepare(self) -> None:
        self.run("db", "start")
        self.env["DATABASE_URL"] = self.database_url
        self.run("migrate")
        personas = self.workdir / "personas.json"
        personas.write_text(json.dumps({"personas": [PERSONA]}))
        self.run("personas", "import", str(personas))
        manual = self.workdir / "knowledge" / "manuals" / "kettle.md"
        manual.parent.mkdir(parents=True)
        manual.write_text(MANUAL)
        self.run("ingest", str(manual.parents[1]))

    def key(self, role: str = "user", *limits: str) -> str:
        """A key made by `keys create`, with these scope and quota options (`--operation search`...)."""
        return self.run("keys", "create", "--role", role, "--name", f"mcp test {role}", *limits).strip()

    def serve(self) -> int:
        port = free_port()
        with (self.workdir / f"serve-{port}.log").open("ab") as sink:
            process = subprocess.Popen(
                [COMMAND, "serve", "--port", str(port)],
                cwd=self.workdir,
                env=self.env,
                stdout=sink,
                stderr=sink,
            )
        self.processes.append(process)
        wait_until_answers(process, f"http://127.0.0.1:{port}/health", self.workdir / f"serve-{port}.log")
        return port

    def stop(self) -> None:
        for process in self.processes:
            stop_child(process)
        if "DATABASE_URL" in self.env:
            del self.env["DATABASE_URL"]
        subprocess.run(
            [COMMAND, "db", "stop"], cwd=self.workdir, env=self.env, capture_output=True, timeout=60
        )

    def stdio(self, key: str, **env: str) -> StdioServerParameters:
        return StdioServerParameters(
            command=COMMAND, args=["mcp"], env={**self.env, "MCP_API_KEY": key, **env}, cwd=self.workdir
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path_factory.mktemp("mcp-deployment"), redis_url)
    try:
        deployment.prepare()
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="module")
def servers(deployment: Deployment) -> list[int]:
    """Two API processes on the one database: the ports they listen on."""
    return [deployment.serve(), deployment.serve()]


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer in front of several ports: each request goes to the next one in turn."""

    def __init__(self, ports: list[int]) -> None:
        self.next_port = itertools.cycle(ports)
        self.inner = httpx2.AsyncHTTPTransport()
        self.served: dict[int, list[str]] = {port: [] for port in ports}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self.next_port)
        request.url = request.url.copy_with(port=port)
        self.served[port].append(json.loads(request.content).get("method", "(response)"))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def balanced_client(
    balancer: RoundRobin, key: str, mode: Literal["auto", "legacy"]
) -> AsyncIterator[Client]:
    port = next(iter(balancer.served))
    async with httpx2.AsyncClient(transport=balancer, headers={"X-API-Key": key}, timeout=60) as http:
        url = f"http://127.0.0.1:{port}/api/mcp"
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_two_processes_behind_a_round_robin_both_serve_one_clients_calls(
    deployment: Deployment, servers: list[int], mode: Literal["auto", "legacy"]
) -> None:
    balancer = RoundRobin(servers)
    async with balanced_client(balancer, deployment.key(), mode) as client:
        for _ in range(2):
            agents = structured(await client.call_tool("list_agents", {}))["agents"]
            assert [agent["id"] for agent in agents] == ["kettle-helper"]
            hits = structured(
                await client.call_tool("search_knowledge", {"query": "descale with vinegar", "top_k": 1})
            )["results"]
            assert (hits[0]["source"], hits[0]["heading"]) == ("kettle.md", "Kettle manual > Cleaning")
    for port, methods in balancer.served.items():
        assert "tools/call" in methods, (port, methods)
    if mode == "legacy":
        # The handshake went to one process and the calls after it to both: no session to stick to.
        assert "initialize" in balancer.served[servers[0]]
        assert "notifications/initialized" in balancer.served[servers[1]]


async def test_the_stdio_command_serves_the_tools_to_the_sdk_client(deployment: Deployment) -> None:
    with (deployment.workdir / "stdio.log").open("w") as errlog:
        async with Client(stdio_client(deployment.stdio(deployment.key()), errlog=errlog)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert tools == {"ask_agent", "search_knowledge", "list_agents"}
            agents = structured(await client.call_tool("list_agents", {}))["agents"]
            assert agents == [{**PERSONA}]
            hits = structured(
                await client.call_tool("search_knowledge", {"query": "warranty for the heating element"})
            )["results"]
            assert hits[0]["heading"] == "Kettle manual > Warranty"
            assert "five years" in hits[0]["snippet"]
            # No passage is relevant: the agent abstains, and no model is needed for that.
            answer = structured(
                await client.call_tool(
                    "ask_agent", {"agent_id": "kettle-helper", "question": "Who painted the Sistine Chapel?"}
                )
            )
            assert (answer["abstained"], answer["model_used"]) == (True, "none")
            missing = await client.call_tool("ask_agent", {"agent_id": "toaster", "question": "Hello?"})
            assert missing.is_error
            assert "Agent not found: There is no agent 'toaster'" in text(missing)
    logged = [json.loads(line) for line in (deployment.workdir / "stdio.log").read_text().splitlines()]
    assert [record["event"] for record in logged if record["level"] == "error"] == []
    assert "mcp_stdio_ready" in [record["event"] for record in logged]


async def test_the_stdio_command_refuses_a_bad_key_with_a_clear_error(deployment: Deployment) -> None:
    errlog_path = deployment.workdir / "stdio-refused.log"
    with errlog_path.open("w") as errlog, pytest.raises(ExceptionGroup) as refused:
        async with Client(stdio_client(deployment.stdio("pa_not-a-real-key"), errlog=errlog)) as client:
            await client.list_tools()
    assert refused.group_contains(MCPError, match="Connection closed")
    last_line = errlog_path.read_text().splitlines()[-1]
    assert last_line == (
        "error: MCP_API_KEY is refused: it is not a live API key or token (unknown, revoked or expired)."
    )
    with psycopg.connect(deployment.database_url) as connection:
        entries = connection.execute(
            "SELECT actor, outcome, details FROM audit_log WHERE action = 'auth.key_denied'"
        ).fetchall()
    assert ("key:pa_not-a-rea", "denied", {"transport": "mcp-stdio"}) in entries


async def test_a_key_revoked_while_the_stdio_server_runs_stops_working_at_the_next_call(
    deployment: Deployment,
) -> None:
    key = deployment.key()
    with (deployment.workdir / "stdio-revoked.log").open("w") as errlog:
        async with Client(stdio_client(deployment.stdio(key), errlog=errlog)) as client:
            assert not (await client.call_tool("list_agents", {})).is_error
            deployment.run("keys", "revoke", key[:12])
            refused = await client.call_tool("list_agents", {})
    assert refused.is_error
    assert "Unauthorized: MCP_API_KEY is refused" in text(refused)


async def test_stdio_calls_count_against_the_keys_mcp_rate_limit(deployment: Deployment) -> None:
    with (deployment.workdir / "stdio-limited.log").open("w") as errlog:
        params = deployment.stdio(deployment.key(), RATE_LIMIT_MCP="2/minute")
        async with Client(stdio_client(params, errlog=errlog)) as client:
            for _ in range(2):
                assert not (await client.call_tool("list_agents", {})).is_error
            limited = await client.call_tool("list_agents", {})
    assert limited.is_error
    assert "Rate limited: Rate limit of 2 per 1 minute for mcp reached" in text(limited)


async def test_stdio_holds_a_key_to_its_scope_and_its_quotas(deployment: Deployment) -> None:
    errlog_path = deployment.workdir / "stdio-scoped.log"
    key = deployment.key("user", "--operation", "search")
    with errlog_path.open("w") as errlog, pytest.raises(ExceptionGroup):
        async with Client(stdio_client(deployment.stdio(key), errlog=errlog)) as client:
            await client.list_tools()
    assert errlog_path.read_text().splitlines()[-1] == (
        "error: This API key may not use the operation 'mcp'; it may use: search."
    )
    with (deployment.workdir / "stdio-quota.log").open("w") as errlog:
        key = deployment.key("user", "--operation", "mcp", "--requests-per-day", "1")
        async with Client(stdio_client(deployment.stdio(key), errlog=errlog)) as client:
            assert not (await client.call_tool("list_agents", {})).is_error
            over = await client.call_tool("list_agents", {})
            asked = await client.call_tool("ask_agent", {"agent_id": "kettle-helper", "question": "Hello?"})
    assert over.is_error
    assert "Quota exceeded: This API key's quota requests_per_day of 1 is used up" in text(over)
    assert "Quota exceeded" in text(asked)


def test_the_stdio_command_without_a_key_says_which_setting_is_missing(deployment: Deployment) -> None:
    result = subprocess.run(
        [COMMAND, "mcp"],
        cwd=deployment.workdir,
        env={key: value for key, value in deployment.env.items() if key != "MCP_API_KEY"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == "", "stdout belongs to the protocol"
    assert result.stderr.strip().splitlines()[-1].startswith("error: MCP_API_KEY is not set")
