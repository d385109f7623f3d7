"""Concurrent loads of one key share one call, its value or its error; a cancelled loader is replaced."""

from __future__ import annotations

import asyncio

import pytest

from purpose_agent.kit.single_flight import SingleFlight


async def test_callers_that_arrive_together_share_one_load() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 42

    results = await asyncio.gather(*(flight.run("key", load) for _ in range(50)))
    assert results == [42] * 50
    assert calls == 1
    assert await flight.run("key", load) == 42
    assert calls == 2, "a later call loads again: this is no cache"


async def test_the_load_s_error_reaches_every_caller() -> None:
    flight: SingleFlight[str, int] = SingleFlight()

    async def failing() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("gone")

    results = await asyncio.gather(*(flight.run("key", failing) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, LookupError) for result in results)


async def test_a_waiter_outlives_a_cancelled_loader() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(10)
        return "slow"

    async def quick() -> str:
        return "quick"

    loader = asyncio.ensure_future(flight.run("key", slow))
    await started.wait()
    waiter = asyncio.ensure_future(flight.run("key", quick))
    await asyncio.sleep(0)
    loader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loader
    assert await waiter == "quick", "the waiter loaded for itself"
