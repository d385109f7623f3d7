"""Hostile request bodies against the running service: each gets a problem (4xx), none a 5xx or a
hang, and the server's memory stays where it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.hostile.service import AGENT, Service, rss_bytes

MAX_GROWTH = 64 * 2**20  # what a burst of refused bodies may leave behind in the API process


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def nested(depth: int, opening: str, closing: str, inner: str = "") -> str:
    return opening * depth + inner + closing * depth


HOSTILE_BODIES: dict[str, tuple[str | bytes, int]] = {
    "nested arrays": (nested(200_000, "[", "]"), 400),
    "nested objects": (nested(100_000, '{"a":', "}", "1"), 400),
    "invalid UTF-8": (b'{"agent_id": "kettle-helper", "question": "\xff\xfe descale"}', 400),
    "lone surrogate": ('{"agent_id": "kettle-helper", "question": "descale \\ud800"}', 422),
    "truncated": ('{"agent_id": "kettle-helper", "question": "desc', 400),
    "not JSON": (b"\x00\x01\x02 binary", 400),
    "a number too big": ('{"agent_id": "kettle-helper", "question": "q", "session_id": 1e999999}', 422),
}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
def test_a_malformed_body_is_a_problem(service: Service, name: str) -> None:
    body, status = HOSTILE_BODIES[name]
    with service.client(service.user_key, timeout=10) as client:
        response = client.post("/api/chat", content=body, headers={"content-type": "application/json"})
    assert_problem(response, status)


def test_an_oversized_body_is_refused_declared_or_streamed(service: Service) -> None:
    declared = b" " * (2 * 2**20)

    def streamed() -> Iterator[bytes]:
        for _ in range(64):
            yield b" " * 65_536

    with service.client(service.user_key, timeout=10) as client:
        for content in (declared, streamed()):
            response = client.post("/api/chat", content=content, headers={"content-type": "application/json"})
            assert "limit of 1048576 bytes" in assert_problem(response, 413)["detail"]


def test_control_characters_and_nul_in_fields_are_cleaned_or_refused_never_a_500(service: Service) -> None:
    nul = "How often should I descale the kettle?\u0000\u001b[31m"
    with service.client(service.user_key, timeout=30) as user, service.client(service.admin_key) as admin:
        chat = user.post("/api/chat", json={"agent_id": AGENT, "question": nul})
        completion = user.post(
            "/v1/chat/completions",
            json={"model": AGENT, "messages": [{"role": "user", "content": nul}]},
        )
        nothing_left = admin.get("/api/admin/audit", params={"actor": "\u0000"})
        audit = admin.get("/api/admin/audit", params={"target": "a\u0000b"})
    assert chat.status_code == 200, chat.text
    assert "vinegar" in chat.json()["answer"]
    assert completion.status_code == 200, completion.text
    assert "vinegar" in completion.json()["choices"][0]["message"]["content"]
    assert audit.status_code == 200, audit.text
    assert_problem(nothing_left, 422)


def test_a_burst_of_hostile_bodies_leaves_the_server_as_it_was(service: Service) -> None:
    with service.client(service.user_key, timeout=10) as client:
        client.get("/api/agents")
        before = rss_bytes(service.api)
        statuses = set()
        for _ in range(5):
            for body, _status in HOSTILE_BODIES.values():
                response = client.post(
                    "/api/chat", content=body, headers={"content-type": "application/json"}
                )
                statuses.add(response.status_code)
            big = json.dumps({"agent_id": AGENT, "question": "q" * 1_000_000})
            statuses.add(client.post("/api/chat", content=big).status_code)
        alive = client.get("/api/agents")
    assert statuses <= {400, 413, 422}
    assert alive.status_code == 200
    assert rss_bytes(service.api) - before < MAX_GROWTH
