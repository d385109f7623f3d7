"""GET /api/keys/{id}/usage: a key's requests, tokens and cost per day, equal to what it did."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from purpose_agent.personas.models import Persona
from tests.app_context import swap_context
from tests.auth.limits import (
    ANSWER_COST,
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    WARRANTY,
    MovableClock,
    agents,
    answers,
    ask,
    make_key,
    refused,
    settings,
)
from tests.conftest import api_client

__all__ = ["agents", "answers", "settings"]

# An hour before the end of May 2031 (UTC): the counters of the test expire within the hour.
TODAY = datetime(2031, 5, 31, 23, 0, tzinfo=UTC)


async def test_the_usage_per_day_and_the_quotas_equal_what_the_key_did(
    app: FastAPI, client: AsyncClient, agents: list[Persona]
) -> None:
    clock = MovableClock(TODAY - timedelta(days=1))
    swap_context(app, clock=clock)
    key_id, secret = await make_key(client, requests_per_day=5, cost_per_month_usd=1.0)
    async with api_client(app, secret) as key:
        assert (await key.get("/api/agents")).status_code == 200  # yesterday: one request
        clock.now = TODAY
        assert (await ask(key)).status_code == 200
        streamed = await key.post(
            "/api/chat/stream", json={"agent_id": "kettle-helper", "question": WARRANTY}
        )
        assert "event: done" in streamed.text
        completion = await key.post(
            "/v1/chat/completions",
            json={"model": "kettle-helper", "messages": [{"role": "user", "content": WARRANTY}]},
        )
        assert completion.status_code == 200
        assert (await key.post("/api/knowledge/search", json={"query": "kettle"})).status_code == 200
        assert (await key.get("/api/agents")).status_code == 200
        refused(await key.get("/api/agents"), 429, "quota-exceeded")  # refused: not counted

    response = await client.get(
        f"/api/keys/{key_id}/usage", params={"start": "2031-05-30", "end": "2031-05-31"}
    )
    assert response.status_code == 200, response.text
    usage = response.json()
    answered = {
        "prompt_tokens": 3 * PROMPT_TOKENS,
        "completion_tokens": 3 * COMPLETION_TOKENS,
        "total_tokens": 3 * (PROMPT_TOKENS + COMPLETION_TOKENS),
        "cost_usd": pytest.approx(3 * ANSWER_COST),
    }
    none = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost_usd": 0}
    assert usage["days"] == [
        {"day": "2031-05-30", "requests": 1, **none},
        {"day": "2031-05-31", "requests": 5, **answered},
    ]
    assert usage["total"] == {"requests": 6, **answered}
    assert (usage["key_id"], usage["start"], usage["end"]) == (key_id, "2031-05-30", "2031-05-31")
    quotas = {quota["quota"]: quota for quota in usage["quotas"]}
    assert quotas["requests_per_day"] == {
        "quota": "requests_per_day",
        "limit": 5,
        "used": 5,
        "remaining": 0,
        "reset": "2031-06-01T00:00:00Z",
    }
    assert quotas["tokens_per_day"] | {"reset": None} == {
        "quota": "tokens_per_day",
        "limit": None,
        "used": 48,
        "remaining": None,
        "reset": None,
    }
    assert quotas["cost_per_month_usd"]["used"] == pytest.approx(3 * ANSWER_COST)
    assert quotas["cost_per_month_usd"]["remaining"] == pytest.approx(1 - 3 * ANSWER_COST)

    by_default = (await client.get(f"/api/keys/{key_id}/usage")).json()
    assert len(by_default["days"]) == 30
    assert (by_default["start"], by_default["end"]) == ("2031-05-02", "2031-05-31")
    assert by_default["total"]["requests"] == 6


async def test_a_bad_period_is_a_422_and_an_unknown_key_a_404(client: AsyncClient) -> None:
    key_id, _ = await make_key(client)
    usage = f"/api/keys/{key_id}/usage"
    reversed_range = refused(
        await client.get(usage, params={"start": "2031-05-31", "end": "2031-05-01"}), 422, "invalid-period"
    )
    assert "starts (2031-05-31) after it ends (2031-05-01)" in reversed_range["detail"]
    refused(
        await client.get(usage, params={"start": "2030-01-01", "end": "2031-05-01"}), 422, "invalid-period"
    )
    for bad in ("2031-13-01", "yesterday", "2031-02-30"):
        problem = refused(await client.get(usage, params={"start": bad}), 422, "validation-error")
        assert problem["errors"][0]["field"] == "query.start"
    at_the_edges = await client.get(usage, params={"end": "0001-01-05"})
    assert (at_the_edges.status_code, at_the_edges.json()["start"]) == (200, "0001-01-01")
    assert (await client.get(usage, params={"start": "9999-12-31"})).status_code == 422
    refused(await client.get(f"/api/keys/{uuid.uuid4()}/usage"), 404, "key-not-found")
    refused(await client.get("/api/keys/not-a-key/usage"), 422, "validation-error")
