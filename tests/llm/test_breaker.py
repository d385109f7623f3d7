"""The breaker state machine, in memory and in Redis, checked against a small model of its rules.

From any history: N consecutive failures open it; while open no call passes until the cooldown;
after it exactly one probe passes; the probe's success closes it and its failure re-opens it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from purpose_agent.llm.breaker import BreakerPolicy, BreakerState, BreakerStore, MemoryBreakers, RedisBreakers

THRESHOLD = 3
COOLDOWN = 10.0
# Only the consecutive-failure rule in the model: the rate rule is checked by its own test.
POLICY = BreakerPolicy(
    failure_threshold=THRESHOLD,
    failure_rate=1.0,
    minimum_calls=10_000,
    window_seconds=60.0,
    cooldown_seconds=COOLDOWN,
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Model:
    open: bool = False
    opened_at: float = 0.0
    consecutive: int = 0
    probe_taken: bool = False

    def allowed(self, now: float) -> bool:
        if not self.open:
            return True
        if now < self.opened_at + COOLDOWN or self.probe_taken:
            return False
        self.probe_taken = True
        return True

    def record(self, now: float, ok: bool) -> None:
        if ok:
            self.open, self.consecutive, self.probe_taken = False, 0, False
            return
        self.consecutive += 1
        if self.open or self.consecutive >= THRESHOLD:
            self.open, self.opened_at, self.probe_taken = True, now, False

    def state(self, now: float) -> BreakerState:
        if not self.open:
            return BreakerState.closed
        return BreakerState.open if now < self.opened_at + COOLDOWN else BreakerState.half_open


# A history: each step waits some seconds, then a caller asks to call; an admitted call succeeds or fails.
steps = st.lists(st.tuples(st.floats(min_value=0, max_value=6), st.booleans()), max_size=40)


async def replay(store: BreakerStore, history: list[tuple[float, bool]]) -> None:
    model, now, name = Model(), 1_000_000.0, f"provider-{uuid.uuid4().hex}"
    for wait, succeeds in history:
        now += wait
        assert await store.state(name, now) == model.state(now)
        admitted = await store.acquire(name, now)
        assert admitted == model.allowed(now)
        if not admitted:
            continue
        if model.probe_taken:
            assert not await store.acquire(name, now), "while the probe is out, nobody else gets through"
        if succeeds:
            await store.record_success(name, now)
        else:
            await store.record_failure(name, now)
        model.record(now, succeeds)


@given(steps)
def test_memory_breakers_follow_the_rules(history: list[tuple[float, bool]]) -> None:
    asyncio.run(replay(MemoryBreakers(POLICY), history))


@settings(max_examples=60, deadline=None)
@given(steps)
def test_redis_breakers_follow_the_same_rules(history: list[tuple[float, bool]]) -> None:
    async def run() -> None:
        redis = Redis.from_url(REDIS_URL)
        try:
            await replay(RedisBreakers(redis, POLICY, prefix=f"test:{uuid.uuid4().hex}:"), history)
        finally:
            await redis.aclose()

    asyncio.run(run())


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis: Redis, redis_prefix: str) -> BreakerStore:
    policy = BreakerPolicy(failure_threshold=100, failure_rate=0.5, minimum_calls=4, cooldown_seconds=5)
    if request.param == "memory":
        return MemoryBreakers(policy)
    return RedisBreakers(redis, policy, prefix=redis_prefix)


async def test_a_failure_rate_over_the_minimum_count_opens_it(store: BreakerStore) -> None:
    now = 5_000.0
    for succeeds in (True, False, True):
        await (store.record_success("p", now) if succeeds else store.record_failure("p", now))
    assert await store.state("p", now) == BreakerState.closed, "3 calls are under the minimum count"
    await store.record_failure("p", now)
    assert await store.state("p", now) == BreakerState.open, "2 failures in 4 calls is the 50% rate"


async def test_rejected_credentials_open_it_at_once(store: BreakerStore) -> None:
    await store.record_failure("p", 10.0, trip=True)
    assert await store.state("p", 10.0) == BreakerState.open
    assert not await store.acquire("p", 11.0)


async def test_replicas_sharing_redis_agree(redis: Redis, redis_prefix: str) -> None:
    policy = BreakerPolicy(failure_threshold=2, cooldown_seconds=5)
    replica_a, replica_b = (
        RedisBreakers(redis, policy, redis_prefix),
        RedisBreakers(redis, policy, redis_prefix),
    )
    await replica_a.record_failure("openai", 100.0)
    await replica_b.record_failure("openai", 100.5)
    assert not await replica_a.acquire("openai", 101.0), "two failures seen by two replicas open it for both"
    # After the cooldown exactly one replica gets the probe.
    probes = await asyncio.gather(replica_a.acquire("openai", 106.0), replica_b.acquire("openai", 106.0))
    assert sorted(probes) == [False, True]
    await replica_b.record_success("openai", 106.2)
    assert await replica_a.acquire("openai", 106.3)
