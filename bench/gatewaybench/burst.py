"""Bursts: many non-streamed requests with one key sent at the same instant, timed until the last ends.

The question a team asks of a gateway behind a website or an agent framework: when 64 requests with
the same key arrive together and the model takes 500 ms, how long until all 64 have their answer?
Requests that serialise on the key (a row lock, a held connection) take 64 times 500 ms; a gateway that
overlaps them takes the model's time plus its own work. Each request asks a different question, so no
cache of ours flatters the RAG persona.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from gatewaybench.targets import Target

BURST_DELAY_MS = 500
BURST_SIZE = 64
ROUNDS = 3


async def _round(
    client: httpx.AsyncClient, target: Target, size: int, round_number: int
) -> tuple[float, list[int]]:
    async def one(number: int) -> int:
        question = f"Question {round_number}-{number}: how long is the refund window for order {number}?"
        body = {"model": target.model_of(BURST_DELAY_MS), "messages": [{"role": "user", "content": question}]}
        try:
            response = await client.post("/v1/chat/completions", json=body)
        except httpx.HTTPError:
            return 0
        return response.status_code

    started = time.monotonic()
    statuses = await asyncio.gather(*(one(number) for number in range(size)))
    return time.monotonic() - started, list(statuses)


async def _burst(target: Target, size: int, rounds: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{target.port}",
        headers={"Authorization": f"Bearer {target.key}"},
        limits=limits,
        timeout=120,
    ) as client:
        await _round(client, target, size, -1)  # connections opened, caches warm
        results = [await _round(client, target, size, number) for number in range(rounds)]
    walls = [round(wall, 3) for wall, _ in results]
    failed = sum(1 for _, statuses in results for status in statuses if status != 200)
    return {
        "target": target.name,
        "size": size,
        "delay_ms": BURST_DELAY_MS,
        "all_done_s": walls,
        "worst_s": max(walls),
        "non200": failed,
    }


def burst(target: Target, size: int = BURST_SIZE, rounds: int = ROUNDS) -> dict[str, Any]:
    """`rounds` bursts of `size` requests with one key against a 500 ms upstream."""
    return asyncio.run(_burst(target, size, rounds))
