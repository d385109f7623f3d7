"""GET /api/admin/usage adds up the usage rows per UTC day and model, provider, agent or key, for
admins only; the rows are those the chat's answers left."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.llm.models import UsageRecord
from purpose_agent.personas.models import Persona
from tests.app_context import context
from tests.auth.limits import (
    COMPLETION_TOKENS,
    PRICE_PER_MILLION,
    PROMPT_TOKENS,
    agents,
    answers,
    ask,
    make_key,
    settings,
)
from tests.conftest import api_client
from tests.llm.fake_upstream import FakeUpstream, Fault

__all__ = ["agents", "answers", "settings"]


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
    unknown = await client.get("/api/admin/usage", params={"by": "colour"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "query.by"


GROUP_FIELD = {"model": "model_used", "provider": "provider", "agent": "agent_id", "key": "principal"}
Totals = tuple[int, int, int, float, int]


async def todays_usage(client: AsyncClient, by: str) -> dict[str | None, Totals]:
    """Today's (requests, prompt tokens, completion tokens, cost, failed attempts) per group of `by`."""
    report = (await client.get("/api/admin/usage", params={"days": 1, "by": by})).json()
    assert report["by"] == by
    return {
        row[GROUP_FIELD[by]]: (
            row["requests"],
            row["prompt_tokens"],
            row["completion_tokens"],
            row["cost_usd"] or 0.0,
            row["failed_attempts"],
        )
        for row in report["days"]
    }


def added(before: dict[str | None, Totals], after: dict[str | None, Totals]) -> dict[str | None, Totals]:
    """What each group gained between two reports (groups that gained nothing left out)."""
    gained = {}
    for group, totals in after.items():
        was = before.get(group, (0, 0, 0, 0.0, 0))
        difference = tuple(now - then for now, then in zip(totals, was, strict=True))
        if any(difference):
            gained[group] = (
                int(difference[0]),
                int(difference[1]),
                int(difference[2]),
                round(difference[3], 9),
                int(difference[4]),
            )
    return gained


@pytest.fixture
async def usage_of_keys(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """The principals whose usage rows a test writes (committed by the recorder): deleted afterwards."""
    principals: list[str] = []
    yield principals
    async with async_sessionmaker(engine)() as session, session.begin():
        await session.execute(delete(UsageRecord).where(UsageRecord.principal.in_(principals)))


async def test_usage_per_agent_key_provider_and_model_adds_up_to_the_answers_given(
    app: FastAPI,
    client: AsyncClient,
    agents: list[Persona],
    openai_fake: FakeUpstream,
    usage_of_keys: list[str],
) -> None:
    widget_id, widget_key = await make_key(client, name="kettle widget")
    desk_id, desk_key = await make_key(client, name="refunds desk")
    usage_of_keys.extend([f"key:{widget_id}", f"key:{desk_id}"])
    groupings = list(GROUP_FIELD)
    before = {by: await todays_usage(client, by) for by in groupings}

    given: dict[str, list[dict[str, Any]]] = {"widget": [], "desk": []}
    async with api_client(app, widget_key) as widget:
        for _ in range(2):
            given["widget"].append((await ask(widget)).json())
        openai_fake.set_fault(Fault(kind="status", status=500, times=1))  # quoted passages instead
        given["widget"].append((await ask(widget)).json())
    async with api_client(app, desk_key) as desk:
        refund = {"agent_id": "refunds-helper", "question": "Is a faulty kettle refunded in full?"}
        given["desk"].append((await desk.post("/api/chat", json=refund)).json())
    await context(app).recorder.drain()  # written off the request, in batches
    gained = {by: added(before[by], await todays_usage(client, by)) for by in groupings}

    def totals(answers: list[dict[str, Any]]) -> Totals:
        """What these answers used, as their own `usage` and `failovers` report it."""
        prompt = sum(answer["usage"]["prompt_tokens"] for answer in answers)
        completion = sum(answer["usage"]["completion_tokens"] for answer in answers)
        cost = round((prompt + completion) * PRICE_PER_MILLION / 1_000_000, 9)
        return len(answers), prompt, completion, cost, sum(len(answer["failovers"]) for answer in answers)

    every = given["widget"] + given["desk"]
    models = [answer["model_used"] for answer in every]
    assert models == ["openai/gpt-4o", "openai/gpt-4o", "extractive", "openai/gpt-4o"]
    by_model = {model: [answer for answer in every if answer["model_used"] == model] for model in models}
    assert gained["agent"] == {
        "kettle-helper": totals(given["widget"]),
        "refunds-helper": totals(given["desk"]),
    }
    assert gained["key"] == {
        f"key:{widget_id}": totals(given["widget"]),
        f"key:{desk_id}": totals(given["desk"]),
    }
    assert gained["model"] == {model: totals(answers) for model, answers in by_model.items()}
    assert gained["provider"] == {
        "openai": totals(by_model["openai/gpt-4o"]),
        "extractive": totals(by_model["extractive"]),
    }
    assert totals(given["widget"])[:3] == (3, 2 * PROMPT_TOKENS, 2 * COMPLETION_TOKENS), "quotes cost nothing"
    assert totals(given["widget"])[4] == 1, "the failed attempt before the quotes"

    names = (await client.get("/api/admin/usage", params={"days": 1, "by": "key"})).json()["days"]
    mine = {row["principal"]: row["principal_name"] for row in names if row["principal"] in usage_of_keys}
    assert mine == {f"key:{widget_id}": "kettle widget", f"key:{desk_id}": "refunds desk"}
    assert all(row["agent_id"] is None and row["model_used"] is None for row in names), (
        "only the key's fields"
    )
