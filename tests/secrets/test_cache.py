"""The TTL cache: one fetch per TTL, the last values through a failed refresh for one more TTL."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from purpose_agent.secrets import ProviderUnreachable, SecretCache


class ScriptedProvider:
    """A provider whose backend holds `values`, and fails while `failing` is set."""

    name = "scripted"

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.failing = False
        self.fetches: list[list[str]] = []

    def fetch(self, names: Collection[str]) -> dict[str, str]:
        self.fetches.append(list(names))
        if self.failing:
            raise ProviderUnreachable(self.name, "backend down")
        return {name: self.values[name] for name in names if name in self.values}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider({"JWT_SECRET": "one", "OPENAI_API_KEY": "sk-one"})


def test_values_are_fetched_once_per_ttl(provider: ScriptedProvider, clock: Clock) -> None:
    cache = SecretCache(provider, ttl_seconds=300, clock=clock)
    assert cache.get(["JWT_SECRET", "OPENAI_API_KEY"]) == {"JWT_SECRET": "one", "OPENAI_API_KEY": "sk-one"}
    provider.values["JWT_SECRET"] = "two"
    clock.now += 299
    assert cache.get(["JWT_SECRET"]) == {"JWT_SECRET": "one"}
    assert len(provider.fetches) == 1

    clock.now += 1
    assert cache.get(["JWT_SECRET"]) == {"JWT_SECRET": "two"}
    assert len(provider.fetches) == 2


def test_a_name_not_fetched_yet_is_fetched_with_the_others(provider: ScriptedProvider, clock: Clock) -> None:
    cache = SecretCache(provider, ttl_seconds=300, clock=clock)
    cache.get(["JWT_SECRET"])
    assert cache.get(["OPENAI_API_KEY"]) == {"OPENAI_API_KEY": "sk-one"}
    assert provider.fetches == [["JWT_SECRET"], ["JWT_SECRET", "OPENAI_API_KEY"]]
    cache.get(["JWT_SECRET", "OPENAI_API_KEY"])
    assert len(provider.fetches) == 2


def test_a_failed_refresh_serves_the_last_values_until_one_more_ttl_ran_out(
    provider: ScriptedProvider, clock: Clock
) -> None:
    cache = SecretCache(provider, ttl_seconds=300, clock=clock)
    cache.get(["JWT_SECRET"])
    provider.failing = True

    clock.now += 300
    assert cache.get(["JWT_SECRET"]) == {"JWT_SECRET": "one"}
    clock.now += 299
    assert cache.get(["JWT_SECRET"]) == {"JWT_SECRET": "one"}
    clock.now += 1
    with pytest.raises(ProviderUnreachable, match=r"^secrets provider scripted: backend down$"):
        cache.get(["JWT_SECRET"])
    assert len(provider.fetches) == 4

    provider.failing = False
    assert cache.get(["JWT_SECRET"]) == {"JWT_SECRET": "one"}
    assert len(provider.fetches) == 5


def test_a_first_fetch_that_fails_raises_at_once(provider: ScriptedProvider, clock: Clock) -> None:
    provider.failing = True
    cache = SecretCache(provider, ttl_seconds=300, clock=clock)
    with pytest.raises(ProviderUnreachable):
        cache.get(["JWT_SECRET"])


def test_a_failed_fetch_of_a_new_name_is_not_hidden(provider: ScriptedProvider, clock: Clock) -> None:
    cache = SecretCache(provider, ttl_seconds=300, clock=clock)
    cache.get(["JWT_SECRET"])
    provider.failing = True
    with pytest.raises(ProviderUnreachable):
        cache.get(["OPENAI_API_KEY"])


def test_a_ttl_of_zero_fetches_every_time_and_serves_nothing_stale(
    provider: ScriptedProvider, clock: Clock
) -> None:
    cache = SecretCache(provider, ttl_seconds=0, clock=clock)
    cache.get(["JWT_SECRET"])
    cache.get(["JWT_SECRET"])
    assert len(provider.fetches) == 2
    provider.failing = True
    with pytest.raises(ProviderUnreachable):
        cache.get(["JWT_SECRET"])
