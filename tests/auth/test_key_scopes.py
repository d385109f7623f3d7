"""Least privilege: keys and users limited to some agents and operations, over REST, /v1 and MCP."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from httpx import AsyncClient, Response

from purpose_agent.personas.models import Persona
from tests.auth.limits import WARRANTY, agents, answers, ask, make_key, refused, settings
from tests.conftest import api_client
from tests.mcp.conftest import mcp_client, structured, text
from tests.metrics import moved, scrape

__all__ = ["agents", "answers", "settings"]

CHAT = {"agent_id": "refunds-helper", "question": WARRANTY}
COMPLETION = {"model": "refunds-helper", "messages": [{"role": "user", "content": WARRANTY}]}


async def test_a_key_limited_to_one_agent_lists_and_asks_only_that_one(
    app: FastAPI, client: AsyncClient, agents: list[Persona]
) -> None:
    _, secret = await make_key(client, agents=["kettle-helper"])
    async with api_client(app, secret) as limited:
        assert [a["id"] for a in (await limited.get("/api/agents")).json()] == ["kettle-helper"]
        assert [m["id"] for m in (await limited.get("/v1/models")).json()["data"]] == ["kettle-helper"]
        assert (await ask(limited)).status_code == 200
        for path, body in (
            ("/api/chat", CHAT),
            ("/api/chat/stream", CHAT),
            ("/v1/chat/completions", COMPLETION),
        ):
            problem = refused(await limited.post(path, json=body), 403, "out-of-scope")
            assert problem["agent"] == "refunds-helper"
            assert "may not use the agent 'refunds-helper'" in problem["detail"]
        # An agent that does not exist is refused the same way: the scope reveals nothing beyond it.
        nobody = refused(await ask(limited, "no-such-agent"), 403, "out-of-scope")
        assert nobody["agent"] == "no-such-agent"
    assert [a["id"] for a in (await client.get("/api/agents")).json()] == ["kettle-helper", "refunds-helper"]


async def test_search_reads_only_the_categories_of_the_keys_agents(
    app: FastAPI, client: AsyncClient, agents: list[Persona]
) -> None:
    query = {"query": "faulty kettle refunded warranty", "top_k": 10}
    everything = (await client.post("/api/knowledge/search", json=query)).json()["results"]
    assert {hit["category"] for hit in everything} == {"manuals", "billing"}

    _, secret = await make_key(client, agents=["kettle-helper"])
    async with api_client(app, secret) as limited:
        found = (await limited.post("/api/knowledge/search", json=query)).json()["results"]
        assert found
        assert {hit["category"] for hit in found} == {"manuals"}
        named = await limited.post("/api/knowledge/search", json=query | {"category": "manuals"})
        assert named.status_code == 200
        problem = refused(
            await limited.post("/api/knowledge/search", json=query | {"category": "billing"}),
            403,
            "out-of-scope",
        )
        assert (problem["category"], problem["allowed_categories"]) == ("billing", ["manuals"])


async def test_each_operation_outside_the_scope_is_a_403_naming_it(
    app: FastAPI, client: AsyncClient, agents: list[Persona]
) -> None:
    _, search_only = await make_key(client, operations=["search"])
    async with api_client(app, search_only) as limited:
        kettle = {"agent_id": "kettle-helper", "question": WARRANTY}
        completion = COMPLETION | {"model": "kettle-helper"}
        session = f"/api/sessions/{uuid.uuid4()}"
        calls: list[tuple[str, str, str, object]] = [
            ("chat", "POST", "/api/chat", kettle),
            ("chat", "POST", "/api/chat/stream", kettle),
            ("chat", "POST", "/v1/chat/completions", completion),
            ("chat", "GET", "/v1/models", None),
            ("chat", "GET", session, None),
            ("chat", "DELETE", session, None),
            ("mcp", "GET", "/api/mcp/tools", None),
            ("mcp", "POST", "/api/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        ]
        before = await scrape(client)
        for operation, method, path, body in calls:
            problem = refused(await limited.request(method, path, json=body), 403, "out-of-scope")
            assert (problem["operation"], problem["allowed_operations"]) == (operation, ["search"])
            assert f"This API key may not use the operation '{operation}'" in problem["detail"]
        forbidden = moved(before, await scrape(client), "purpose_agent_auth_failures_total", kind="forbidden")
        assert forbidden == len(calls), "counted as refused callers"
        assert (await limited.post("/api/knowledge/search", json={"query": "kettle"})).status_code == 200
        assert (await limited.get("/api/agents")).status_code == 200, "listing agents is no operation"

    _, chat_only = await make_key(client, operations=["chat"])
    async with api_client(app, chat_only) as limited:
        problem = refused(
            await limited.post("/api/knowledge/search", json={"query": "kettle"}), 403, "out-of-scope"
        )
        assert problem["operation"] == "search"
        assert (await ask(limited)).status_code == 200


async def test_mcp_tools_keep_to_the_scope(app: FastAPI, client: AsyncClient, agents: list[Persona]) -> None:
    _, searcher = await make_key(client, agents=["kettle-helper"], operations=["mcp", "search"])
    async with mcp_client(app, searcher) as mcp:
        listed = structured(await mcp.call_tool("list_agents", {}))
        assert [agent["id"] for agent in listed["agents"]] == ["kettle-helper"]
        found = structured(await mcp.call_tool("search_knowledge", {"query": "faulty kettle refunded"}))
        assert found["results"]
        assert {hit["category"] for hit in found["results"]} == {"manuals"}
        other = await mcp.call_tool("search_knowledge", {"query": "refund", "category": "billing"})
        assert other.is_error
        assert "may search only its agents' knowledge categories, not 'billing'" in text(other)
        asked = await mcp.call_tool("ask_agent", {"agent_id": "kettle-helper", "question": WARRANTY})
        assert asked.is_error
        assert "may not use the operation 'chat'" in text(asked)

    _, asker = await make_key(client, agents=["kettle-helper"], operations=["mcp", "chat"])
    async with mcp_client(app, asker) as mcp:
        answer = structured(
            await mcp.call_tool("ask_agent", {"agent_id": "kettle-helper", "question": WARRANTY})
        )
        assert answer["model_used"] == "openai/gpt-4o"
        other = await mcp.call_tool("ask_agent", {"agent_id": "refunds-helper", "question": WARRANTY})
        assert other.is_error
        assert "may not use the agent 'refunds-helper'" in text(other)


async def test_an_admin_changes_a_keys_scope_and_it_holds_from_the_next_request(
    app: FastAPI, client: AsyncClient, agents: list[Persona]
) -> None:
    key_id, secret = await make_key(client)
    async with api_client(app, secret) as key:
        assert len((await key.get("/api/agents")).json()) == 2, "unrestricted by default"
        changed = await client.patch(f"/api/keys/{key_id}", json={"agents": ["refunds-helper"]})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["agents"], changed.json()["operations"]) == (["refunds-helper"], None)
        assert [a["id"] for a in (await key.get("/api/agents")).json()] == ["refunds-helper"]
        refused(await ask(key), 403, "out-of-scope")

        await client.patch(f"/api/keys/{key_id}", json={"operations": ["search"]})
        listed = {k["id"]: k for k in (await client.get("/api/keys")).json()["items"]}
        assert (listed[key_id]["agents"], listed[key_id]["operations"]) == (["refunds-helper"], ["search"])

        lifted = await client.patch(f"/api/keys/{key_id}", json={"agents": None, "operations": None})
        assert (lifted.json()["agents"], lifted.json()["operations"]) == (None, None)
        assert (await ask(key)).status_code == 200


async def test_a_user_limited_to_search_is_refused_chat_with_its_token(
    app: FastAPI, client: AsyncClient, agents: list[Persona]
) -> None:
    password = "a long enough passphrase 7"
    created = await client.post(
        "/api/admin/users",
        json={"username": f"limited-{uuid.uuid4().hex[:8]}", "password": password, "operations": ["search"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["operations"] == ["search"]
    signed_in = await client.post(
        "/api/auth/token", json={"username": created.json()["username"], "password": password}
    )
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    async with api_client(app) as user:
        problem = refused(await ask_as(user, headers), 403, "out-of-scope")
        assert "This user may not use the operation 'chat'" in problem["detail"]
        searched = await user.post("/api/knowledge/search", json={"query": "kettle"}, headers=headers)
        assert searched.status_code == 200
        user_id = created.json()["id"]
        await client.patch(
            f"/api/admin/users/{user_id}", json={"agents": ["kettle-helper"], "operations": None}
        )
        assert (await ask_as(user, headers)).status_code == 200


async def ask_as(client: AsyncClient, headers: dict[str, str]) -> Response:
    return await client.post(
        "/api/chat", json={"agent_id": "kettle-helper", "question": WARRANTY}, headers=headers
    )


async def test_bad_scopes_and_quotas_are_422_problems_naming_the_field(
    client: AsyncClient, agents: list[Persona]
) -> None:
    unknown = refused(
        await client.post("/api/keys", json={"name": "k", "agents": ["kettle-helper", "nobody-here"]}),
        422,
        "unknown-agents",
    )
    assert unknown["unknown_agents"] == ["nobody-here"]
    assert "There is no agent 'nobody-here'" in unknown["detail"]
    for field, value in (
        ("requests_per_day", -1),
        ("tokens_per_day", 0),
        ("cost_per_month_usd", -0.5),
        ("operations", ["delete"]),
        ("agents", ["Not An Id"]),
    ):
        problem = refused(
            await client.post("/api/keys", json={"name": "k", field: value}), 422, "validation-error"
        )
        assert all(error["field"].startswith(f"body.{field}") for error in problem["errors"])
    key_id, _ = await make_key(client)
    refused(
        await client.patch(f"/api/keys/{key_id}", json={"agents": ["nobody-here"]}), 422, "unknown-agents"
    )
    refused(await client.patch(f"/api/keys/{key_id}", json={"requests_per_day": -5}), 422, "validation-error")
    refused(await client.patch(f"/api/keys/{uuid.uuid4()}", json={"agents": None}), 404, "key-not-found")
    created = await client.post("/api/keys", json={"name": "plain"})
    assert {field: created.json()[field] for field in ("agents", "operations", "requests_per_day")} == {
        "agents": None,
        "operations": None,
        "requests_per_day": None,
    }
