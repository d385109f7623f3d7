"""Where a chat request spends its time: stage timings in its access line and its Server-Timing header."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient, Response

from purpose_agent.personas.models import Persona
from tests.chat.conftest import AppFactory
from tests.conftest import LogCapture
from tests.llm.fake_upstream import FakeUpstream

QUESTION = {"agent_id": "kettle-helper", "question": "How long is the heating element covered?"}
CHAT_STAGES = ["auth", "history", "retrieval", "model", "write"]


def server_timing(response: Response) -> dict[str, float]:
    """The header's metrics by name, e.g. {"auth": 1.2, ..., "total": 250.3}."""
    metrics = {}
    for metric in response.headers["server-timing"].split(","):
        name, duration = metric.strip().split(";dur=")
        metrics[name] = float(duration)
    return metrics


def access_line(logs: LogCapture, path: str) -> dict[str, Any]:
    [line] = [record for record in logs.records() if record["event"] == "request" and record["path"] == path]
    return line


async def test_in_development_each_stage_of_a_chat_is_in_its_header_and_access_line(
    user_client: AsyncClient, kettle: Persona, openai_fake: FakeUpstream, logs: LogCapture
) -> None:
    openai_fake.reply.first_chunk_delay = 0.2
    response = await user_client.post("/api/chat", json=QUESTION)
    assert response.status_code == 200, response.text

    header = server_timing(response)
    assert list(header) == [*CHAT_STAGES, "total"]
    assert header["model"] >= 200, "the model's 200 ms are counted where they are spent"
    assert header["retrieval"] < header["total"]
    assert sum(header[name] for name in CHAT_STAGES) <= header["total"]

    timings = access_line(logs, "/api/chat")["timings_ms"]
    assert list(timings) == CHAT_STAGES
    assert timings["model"] >= 200


async def test_a_stream_header_holds_the_stages_before_its_first_byte_and_the_log_all_of_them(
    user_client: AsyncClient, kettle: Persona, logs: LogCapture
) -> None:
    response = await user_client.post("/api/chat/stream", json=QUESTION)
    assert response.status_code == 200
    assert "event: done" in response.text

    assert list(server_timing(response)) == ["auth", "history", "retrieval", "total"]
    assert list(access_line(logs, "/api/chat/stream")["timings_ms"]) == CHAT_STAGES


async def test_production_sends_no_server_timing_unless_asked_but_still_logs_the_stages(
    app_with: AppFactory, kettle: Persona, logs: LogCapture
) -> None:
    async with app_with(app_env="production") as client:
        response = await client.post("/api/chat", json=QUESTION)
    assert response.status_code == 200, response.text
    assert "server-timing" not in response.headers
    assert list(access_line(logs, "/api/chat")["timings_ms"]) == CHAT_STAGES

    async with app_with(app_env="production", server_timing=True) as client:
        response = await client.post("/api/chat", json=QUESTION)
    assert list(server_timing(response)) == [*CHAT_STAGES, "total"]


async def test_a_request_without_stages_has_only_its_total(
    user_client: AsyncClient, logs: LogCapture
) -> None:
    response = await user_client.get("/health")
    assert list(server_timing(response)) == ["total"]
    assert "timings_ms" not in access_line(logs, "/health")


async def test_a_browser_on_an_allowed_origin_can_read_the_timings(
    app_with: AppFactory, kettle: Persona
) -> None:
    origin = "https://console.example.com"
    async with app_with(cors_allowed_origins=origin) as client:
        response = await client.post("/api/chat", json=QUESTION, headers={"Origin": origin})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert "server-timing" in response.headers["access-control-expose-headers"].lower()
    assert list(server_timing(response)) == [*CHAT_STAGES, "total"]
