"""Bounded executors: work runs on the pool's own threads, a full pool refuses at once, and a call
keeps its place until it really ends, even when its caller stopped waiting."""

from __future__ import annotations

import asyncio
import threading

import pytest

from purpose_agent.kit.executor import BoundedExecutor, ExecutorBusy


async def test_work_runs_on_the_pool_s_own_named_threads() -> None:
    pool = BoundedExecutor("embedder", workers=1, max_queued=0)
    try:
        name = await pool.run(lambda: threading.current_thread().name)
    finally:
        pool.shutdown()
    assert name.startswith("embedder")


async def test_a_full_pool_refuses_at_once_and_takes_work_again_when_a_call_ends() -> None:
    pool = BoundedExecutor("local-model", workers=1, max_queued=1)
    release = threading.Event()
    try:
        running = pool.submit(release.wait, 10)
        waiting = pool.submit(lambda: "second")
        with pytest.raises(ExecutorBusy, match="local-model pool is full"):
            pool.submit(lambda: "third")
        release.set()
        assert await running is True
        assert await waiting == "second"
        assert await pool.run(lambda: "fourth") == "fourth"
    finally:
        release.set()
        pool.shutdown()


async def test_a_cancelled_caller_s_call_holds_its_place_until_it_ends() -> None:
    pool = BoundedExecutor("parse", workers=1, max_queued=0)
    release = threading.Event()
    try:
        caller = asyncio.ensure_future(pool.run(release.wait, 10))
        await asyncio.sleep(0.05)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert pool.admitted == 1, "the thread still runs the call"
        with pytest.raises(ExecutorBusy):
            pool.submit(lambda: None)
        release.set()
        for _ in range(200):
            if pool.admitted == 0:
                break
            await asyncio.sleep(0.01)
        assert await pool.run(lambda: "next") == "next"
    finally:
        release.set()
        pool.shutdown()
