"""GET /api/admin/usage adds up the usage rows per UTC day and model, for admins only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.llm.models import UsageRecord


def row(
    at: datetime, model_used: str | None, tokens: tuple[int, int], cost: float | None
) -> dict[str, object]:
    return {
        "created_at": at,
        "request_id": "r",
        "model_used": model_used,
        "prompt_tokens": tokens[0],
        "completion_tokens": tokens[1],
        "cost_usd": cost,
        "latency_ms": 10.0,
        "failed_attempts": 1 if model_used is None else 0,
    }


async def test_usage_is_added_up_per_day_and_model_within_the_days_asked(
    client: AsyncClient, session: AsyncSession
) -> None:
    # Model names no other test writes: rows that other tests committed do not count here.
    gpt, local = f"openai/gpt-{uuid.uuid4().hex}", f"local/small-{uuid.uuid4().hex}"
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday, long_ago = today - timedelta(days=1), today - timedelta(days=40)
    await session.execute(
        insert(UsageRecord),
        [
            row(today, gpt, (100, 20), 0.5),
            row(today, gpt, (50, 10), 0.25),
            row(today, local, (30, 5), None),
            row(yesterday, local, (0, 0), None),
            row(long_ago, gpt, (1000, 1000), 9.0),
        ],
    )
    await session.flush()

    report = (await client.get("/api/admin/usage", params={"days": 2})).json()
    assert (report["since"], report["until"]) == (yesterday.date().isoformat(), today.date().isoformat())
    mine = [day for day in report["days"] if day["model_used"] in {gpt, local}]
    summary = {
        (day["day"], day["model_used"]): (
            day["provider"],
            day["requests"],
            day["prompt_tokens"],
            day["cost_usd"],
        )
        for day in mine
    }
    assert summary == {
        (today.date().isoformat(), gpt): ("openai", 2, 150, 0.75),
        (today.date().isoformat(), local): ("local", 1, 30, None),
        (yesterday.date().isoformat(), local): ("local", 1, 0, None),
    }, "40 days ago is out of the range"


async def test_usage_is_for_admins_and_its_range_is_bounded(
    client: AsyncClient, user_client: AsyncClient
) -> None:
    assert (await user_client.get("/api/admin/usage")).status_code == 403
    refused = await client.get("/api/admin/usage", params={"days": 0})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "query.days"
