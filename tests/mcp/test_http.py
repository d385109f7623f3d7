"""The MCP tools over streamable HTTP at /api/mcp, called with the SDK's own client against the app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from mcp.shared.exceptions import MCPError
from mcp_types import TextContent

from purpose_agent.chat.schemas import ChatAsk
from purpose_agent.knowledge.schemas import SearchRequest
from purpose_agent.personas.models import Persona
from tests.app_context import context
from tests.chat.conftest import AppFactory
from tests.conftest import api_client
from tests.llm.fake_upstream import FakeUpstream
from tests.mcp.conftest import mcp_client, structured, text

WARRANTY = "How long is the heating element covered?"
JSON_RPC_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
STATELESS_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}


async def test_the_client_lists_three_tools_with_bounded_inputs_and_output_schemas(
    app: FastAPI, user_key: str
) -> None:
    async with mcp_client(app, user_key) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"ask_agent", "search_knowledge", "list_agents"}
    for tool in tools.values():
        assert tool.description
        assert tool.output_schema is not None

    ask = tools["ask_agent"].input_schema
    assert sorted(ask["required"]) == ["agent_id", "question"]
    # The same bounds as POST /api/chat and POST /api/knowledge/search.
    chat = ChatAsk.model_json_schema()["properties"]
    assert ask["properties"]["question"]["maxLength"] == chat["question"]["maxLength"] == 8000
    assert ask["properties"]["question"]["minLength"] == chat["question"]["minLength"] == 1
    assert ask["properties"]["agent_id"]["pattern"] == chat["agent_id"]["pattern"]
    search = tools["search_knowledge"].input_schema
    bounds = SearchRequest.model_json_schema()["properties"]
    assert search["required"] == ["query"]
    for name, keys in (("top_k", ("minimum", "maximum", "default")), ("query", ("minLength", "maxLength"))):
        assert {key: search["properties"][name][key] for key in keys} == {
            key: bounds[name][key] for key in keys
        }
    assert tools["list_agents"].input_schema.get("required", []) == []
    assert set(tools["ask_agent"].output_schema["properties"]) >= {  # type: ignore[index]
        "answer",
        "citations",
        "model_used",
        "session_id",
    }


async def test_get_api_mcp_tools_lists_the_same_tools_as_plain_json(
    app: FastAPI, user_client: AsyncClient, anonymous_client: AsyncClient, user_key: str
) -> None:
    response = await user_client.get("/api/mcp/tools")
    assert response.status_code == 200
    listed = {tool["name"]: tool for tool in response.json()}
    async with mcp_client(app, user_key) as client:
        tools = (await client.list_tools()).tools
    assert {tool.name: tool.input_schema for tool in tools} == {
        name: tool["input_schema"] for name, tool in listed.items()
    }
    assert listed["ask_agent"]["output_schema"]["title"] == "AskAgentResult"
    assert (await anonymous_client.get("/api/mcp/tools")).status_code == 401


async def test_ask_agent_gives_the_answer_and_citations_post_api_chat_gives(
    app: FastAPI, user_client: AsyncClient, user_key: str, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    rest = await user_client.post("/api/chat", json={"agent_id": "kettle-helper", "question": WARRANTY})
    assert rest.status_code == 200
    async with mcp_client(app, user_key) as client:
        result = await client.call_tool("ask_agent", {"agent_id": "kettle-helper", "question": WARRANTY})
    answer = structured(result)
    expected = rest.json()
    assert answer["answer"] == expected["answer"] == "The heating element is covered for five years [1]."
    assert answer["citations"] == expected["citations"]
    assert answer["model_used"] == expected["model_used"] == "openai/gpt-4o"
    assert answer["session_id"] != expected["session_id"], "a new conversation each"
    assert result.content[0] == TextContent(type="text", text=expected["answer"])
    assert "[1] kettle.pdf, page 3, Warranty" in text(result)
    assert [request.body["messages"] for request in openai_fake.requests[1:]] == [
        request.body["messages"] for request in openai_fake.requests[:1]
    ], "the provider was sent the same prompt"


async def test_a_session_id_continues_the_conversation_and_is_stored_as_rest_stores_it(
    app: FastAPI, user_client: AsyncClient, user_key: str, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    async with mcp_client(app, user_key) as client:
        first = structured(
            await client.call_tool("ask_agent", {"agent_id": "kettle-helper", "question": WARRANTY})
        )
        openai_fake.reply.chunks = ["Keep the receipt [1]."]
        second = structured(
            await client.call_tool(
                "ask_agent",
                {
                    "agent_id": "kettle-helper",
                    "question": "And what do I need to claim it?",
                    "session_id": first["session_id"],
                },
            )
        )
    assert second["session_id"] == first["session_id"]
    assert openai_fake.requests[1].body["messages"][1:3] == [
        {"role": "user", "content": WARRANTY},
        {"role": "assistant", "content": first["answer"]},
    ]
    history = await user_client.get(f"/api/sessions/{first['session_id']}")
    assert history.status_code == 200, "the same principal owns it over REST"
    assert [m["content"] for m in history.json()["messages"]][-1] == "Keep the receipt [1]."


async def test_a_question_outside_the_knowledge_abstains_without_an_error(
    app: FastAPI, user_key: str, kettle: Persona, openai_fake: FakeUpstream
) -> None:
    async with mcp_client(app, user_key) as client:
        result = await client.call_tool(
            "ask_agent", {"agent_id": "kettle-helper", "question": "Who painted the Sistine Chapel?"}
        )
    answer = structured(result)
    assert (answer["abstained"], answer["model_used"], answer["citations"]) == (True, "none", [])
    assert openai_fake.requests == []


async def test_search_knowledge_returns_the_passages_rest_search_returns(
    app: FastAPI, user_client: AsyncClient, user_key: str, kettle: Persona
) -> None:
    rest = await user_client.post(
        "/api/knowledge/search", json={"query": "descale with vinegar", "category": "manuals", "top_k": 2}
    )
    assert rest.status_code == 200
    async with mcp_client(app, user_key) as client:
        result = await client.call_tool(
            "search_knowledge", {"query": "descale with vinegar", "category": "manuals", "top_k": 2}
        )
    hits = structured(result)["results"]
    assert [hit["chunk_id"] for hit in hits] == [hit["chunk_id"] for hit in rest.json()["results"]]
    best = hits[0]
    assert (best["rank"], best["source"], best["category"], best["page"], best["heading"]) == (
        1,
        "kettle.pdf",
        "manuals",
        2,
        "Cleaning",
    )
    assert "white vinegar" in best["snippet"]
    assert best["score"] == round(rest.json()["results"][0]["similarity"], 4)
    assert "white vinegar" in text(result), "the text block carries the results too"


async def test_list_agents_is_what_get_api_agents_gives(
    app: FastAPI, user_client: AsyncClient, user_key: str, kettle: Persona
) -> None:
    async with mcp_client(app, user_key) as client:
        result = await client.call_tool("list_agents", {})
    assert structured(result)["agents"] == (await user_client.get("/api/agents")).json()
    assert "kettle-helper" in text(result)


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        (
            "ask_agent",
            {"agent_id": "no-such-agent", "question": WARRANTY},
            "Agent not found: There is no agent 'no-such-agent'",
        ),
        (
            "ask_agent",
            {"agent_id": "kettle-helper", "question": "   "},
            "String should have at least 1 character",
        ),
        ("ask_agent", {"agent_id": "kettle-helper"}, "question\n  Field required"),
        (
            "ask_agent",
            {"agent_id": "kettle-helper", "question": WARRANTY, "session_id": str(uuid.uuid4())},
            "Session not found",
        ),
        ("search_knowledge", {"query": "kettle", "category": "recipes"}, "Category not found"),
        (
            "search_knowledge",
            {"query": "kettle", "top_k": 0},
            "top_k\n  Input should be greater than or equal to 1",
        ),
        (
            "search_knowledge",
            {"query": "kettle", "top_k": 51},
            "top_k\n  Input should be less than or equal to 50",
        ),
        ("search_knowledge", {"query": ""}, "query\n  String should have at least 1 character"),
    ],
)
async def test_bad_input_is_a_tool_error_that_names_the_problem(
    app: FastAPI, user_key: str, kettle: Persona, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async with mcp_client(app, user_key) as client:
        result = await client.call_tool(tool, arguments)
        assert result.is_error
        assert message in text(result)
        # The server is unharmed: the next call answers.
        assert not (await client.call_tool("list_agents", {})).is_error


async def test_a_user_key_cannot_continue_a_conversation_of_another_key(
    app: FastAPI, admin_key: str, user_key: str, kettle: Persona
) -> None:
    async with mcp_client(app, admin_key) as admin:
        started = structured(
            await admin.call_tool("ask_agent", {"agent_id": "kettle-helper", "question": WARRANTY})
        )
    async with mcp_client(app, user_key) as user:
        result = await user.call_tool(
            "ask_agent",
            {"agent_id": "kettle-helper", "question": "And then?", "session_id": started["session_id"]},
        )
    assert result.is_error
    assert "Session not found" in text(result)


async def test_without_credentials_or_with_bad_ones_the_endpoint_answers_401(
    app: FastAPI, anonymous_client: AsyncClient
) -> None:
    for headers in ({}, {"X-API-Key": "pa_not-a-key"}, {"Authorization": "Bearer not.a.token"}):
        async with api_client(app) as client:
            response = await client.post(
                "http://127.0.0.1:8000/api/mcp", json=JSON_RPC_LIST, headers={**STATELESS_HEADERS, **headers}
            )
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
    with pytest.raises(ExceptionGroup) as refused:
        async with mcp_client(app, None) as client:
            await client.list_tools()
    assert refused.group_contains(MCPError, match="Server returned an error response")


async def test_a_bearer_key_and_a_bearer_token_are_accepted(app: FastAPI, user_key: str) -> None:
    token = context(app).tokens.issue(subject="ada", role="user", name="Ada", now=datetime.now(UTC)).token
    for credential in (user_key, token):
        async with mcp_client(app, None, headers={"Authorization": f"Bearer {credential}"}) as client:
            assert not (await client.call_tool("list_agents", {})).is_error


async def test_an_old_client_with_the_initialize_handshake_is_served_statelessly(
    app: FastAPI, user_key: str, kettle: Persona
) -> None:
    async with mcp_client(app, user_key, mode="legacy") as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == {
            "ask_agent",
            "search_knowledge",
            "list_agents",
        }
        result = await client.call_tool("search_knowledge", {"query": "warranty", "top_k": 1})
    assert structured(result)["results"][0]["heading"] == "Warranty"


async def test_a_host_or_origin_not_allowed_is_refused_with_a_problem(app: FastAPI, user_key: str) -> None:
    async with api_client(app, user_key) as client:
        other_host = await client.post("/api/mcp", json=JSON_RPC_LIST, headers=STATELESS_HEADERS)
        assert other_host.status_code == 421
        assert other_host.headers["content-type"] == "application/problem+json"
        assert "MCP_ALLOWED_HOSTS" in other_host.json()["detail"]
        foreign = await client.post(
            "http://127.0.0.1:8000/api/mcp",
            json=JSON_RPC_LIST,
            headers={**STATELESS_HEADERS, "Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        assert "MCP_ALLOWED_ORIGINS" in foreign.json()["detail"]
        local = await client.post(
            "http://127.0.0.1:8000/api/mcp",
            json=JSON_RPC_LIST,
            headers={**STATELESS_HEADERS, "Origin": "http://localhost:5173"},
        )
        assert local.status_code == 200
        assert {tool["name"] for tool in local.json()["result"]["tools"]} >= {"ask_agent"}
    with pytest.raises(ExceptionGroup) as refused:
        async with mcp_client(app, user_key, url="http://testserver/api/mcp") as mcp:
            await mcp.list_tools()
    assert refused.group_contains(MCPError)


async def test_over_the_mcp_rate_limit_a_call_gets_a_429_that_names_the_limit(
    app_with: AppFactory, user_key: str
) -> None:
    async with app_with(rate_limit_mcp="2/minute") as client:
        url = "http://127.0.0.1:8000/api/mcp"
        for _ in range(2):
            allowed = await client.post(url, json=JSON_RPC_LIST, headers=STATELESS_HEADERS)
            assert allowed.status_code == 200
        refused = await client.post(url, json=JSON_RPC_LIST, headers=STATELESS_HEADERS)
        assert refused.status_code == 429
        assert refused.json()["detail"].startswith("Rate limit of 2 per 1 minute for mcp reached")
        assert "Retry-After" in refused.headers
        assert (await client.get("/api/agents")).status_code == 200, "other routes keep their own limits"


async def test_the_endpoint_takes_posts_only(user_client: AsyncClient) -> None:
    for method in ("GET", "DELETE"):
        response = await user_client.request(method, "http://127.0.0.1:8000/api/mcp")
        assert response.status_code == 405, method
        assert response.headers["allow"] == "POST"
        assert response.headers["content-type"] == "application/problem+json"
