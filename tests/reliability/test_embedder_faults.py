"""A remote embedder that is down or hangs: chat and search answer a 503 problem (never a 500), within
EMBEDDER_TIMEOUT_SECONDS when it hangs. Real sockets: a port where nothing listens, and a server that
accepts and never answers."""

from __future__ import annotations

import time
from typing import Any

from httpx import AsyncClient, Response

from tests.conftest import Start, client_of
from tests.faulty_servers import black_hole
from tests.personas.factories import persona_body
from tests.ports import refused_url

REMOTE_EMBEDDER = {"embedder": "openai", "embedder_api_key": "sk-test-0001", "embedder_dimension": 384}


async def _with_agent(admin: AsyncClient) -> None:
    assert (await admin.post("/api/knowledge/categories", json={"name": "support"})).status_code == 201
    assert (await admin.post("/api/personas", json=persona_body("bot"))).status_code == 201


def _assert_embedder_unavailable(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/embedder-unavailable"
    assert int(response.headers["retry-after"]) >= 1


async def _calls(admin: AsyncClient) -> list[tuple[Response, float]]:
    """A search, a chat and a streamed chat, each with how long it took."""
    requests: list[tuple[str, dict[str, Any]]] = [
        ("/api/knowledge/search", {"query": "How do I descale it?", "category": "support"}),
        ("/api/chat", {"agent_id": "bot", "question": "How do I descale it?"}),
        ("/api/chat/stream", {"agent_id": "bot", "question": "How do I descale it?"}),
    ]
    timed = []
    for path, body in requests:
        started = time.perf_counter()
        response = await admin.post(path, json=body)
        timed.append((response, time.perf_counter() - started))
    return timed


async def test_an_embedder_that_refuses_connections_gets_chat_and_search_a_503_problem(
    start: Start, admin_key: str
) -> None:
    async with (
        start(**REMOTE_EMBEDDER, embedder_base_url=refused_url()) as app,
        client_of(app, key=admin_key) as admin,
    ):
        await _with_agent(admin)
        for response, _ in await _calls(admin):
            _assert_embedder_unavailable(response)


async def test_an_embedder_that_never_answers_costs_each_request_its_timeout_then_a_503_problem(
    start: Start, admin_key: str
) -> None:
    async with (
        black_hole() as silent,
        start(
            **REMOTE_EMBEDDER, embedder_base_url=f"http://{silent}/v1", embedder_timeout_seconds=0.5
        ) as app,
        client_of(app, key=admin_key) as admin,
    ):
        await _with_agent(admin)
        for response, seconds in await _calls(admin):
            _assert_embedder_unavailable(response)
            assert 0.5 <= seconds < 2, seconds
