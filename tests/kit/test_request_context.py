"""Request ids: accepted when safe, generated otherwise, echoed on every response, bound to logs."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.conftest import LogCapture


async def test_a_safe_request_id_is_echoed_and_logged(client: AsyncClient, logs: LogCapture) -> None:
    response = await client.get("/no/such/route", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json()["request_id"] == "abc-123"

    access = [record for record in logs.records() if record["event"] == "request"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "abc-123"
    assert line["method"] == "GET"
    assert line["path"] == "/no/such/route"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    for field in ("timestamp", "level", "service", "version"):
        assert field in line


@pytest.mark.parametrize(
    "unsafe",
    [
        "has space",
        "semi;colon",
        "<script>alert(1)</script>",
        "x" * 129,
        "mail@example.com",
        "-leading-dash",
    ],
)
async def test_an_unsafe_request_id_is_replaced_never_echoed(
    client: AsyncClient, logs: LogCapture, unsafe: str
) -> None:
    response = await client.get("/health", headers={"X-Request-ID": unsafe})
    generated = response.headers["x-request-id"]
    assert generated != unsafe
    assert len(generated) == 32
    assert unsafe not in logs.text


async def test_every_response_gets_a_fresh_id_without_one(client: AsyncClient) -> None:
    first = await client.get("/health")
    second = await client.get("/health")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_an_id_of_128_safe_characters_is_kept(client: AsyncClient) -> None:
    request_id = "a" * 128
    response = await client.get("/health", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id
