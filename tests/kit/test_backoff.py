"""Backoff delays stay within [0, cap], their bound doubles per attempt, Retry-After is honoured."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from purpose_agent.kit.backoff import BackoffPolicy

policies = st.builds(
    BackoffPolicy,
    base_seconds=st.floats(min_value=0.001, max_value=2.0),
    cap_seconds=st.floats(min_value=0.01, max_value=30.0),
)
attempts = st.integers(min_value=0, max_value=64)
retry_afters = st.one_of(st.none(), st.floats(min_value=0.0, max_value=120.0))


@given(policies, attempts, retry_afters, st.integers())
def test_delay_is_within_zero_and_cap(
    policy: BackoffPolicy, attempt: int, retry_after: float | None, seed: int
) -> None:
    delay = policy.delay(attempt, retry_after, random.Random(seed))
    assert 0.0 <= delay <= policy.cap_seconds


@given(policies, attempts, st.integers())
def test_delay_is_below_the_attempts_bound(policy: BackoffPolicy, attempt: int, seed: int) -> None:
    assert policy.delay(attempt, None, random.Random(seed)) <= policy.bound(attempt)


@given(policies, st.integers(min_value=0, max_value=40))
def test_the_bound_grows_exponentially_up_to_the_cap(policy: BackoffPolicy, attempt: int) -> None:
    expected = min(policy.cap_seconds, policy.bound(attempt) * 2)
    assert abs(policy.bound(attempt + 1) - expected) <= 1e-9 * max(1.0, expected)


@given(policies, attempts, st.floats(min_value=0.001, max_value=120.0), st.integers())
def test_retry_after_is_honoured_up_to_the_cap(
    policy: BackoffPolicy, attempt: int, retry_after: float, seed: int
) -> None:
    delay = policy.delay(attempt, retry_after, random.Random(seed))
    assert delay >= min(retry_after, policy.cap_seconds)


def test_full_jitter_spreads_the_delays() -> None:
    policy = BackoffPolicy(base_seconds=1.0, cap_seconds=8.0)
    rng = random.Random(7)
    delays = [policy.delay(3, None, rng) for _ in range(500)]
    assert min(delays) < 1.0
    assert max(delays) > 7.0
