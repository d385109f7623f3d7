"""A loading cache keeps what it loads for its lifetime, never keeps a miss, and forgets on demand."""

from __future__ import annotations

from purpose_agent.kit.loading_cache import LoadingCache


class Loads:
    def __init__(self, value: str | None) -> None:
        self.value = value
        self.count = 0

    async def __call__(self) -> str | None:
        self.count += 1
        return self.value


async def test_a_loaded_value_is_kept_and_a_miss_is_not() -> None:
    cache: LoadingCache[str, str] = LoadingCache(60, 10)
    found, missing = Loads("v"), Loads(None)
    assert [await cache.get("a", found) for _ in range(3)] == ["v"] * 3
    assert found.count == 1
    assert [await cache.get("b", missing) for _ in range(3)] == [None] * 3
    assert missing.count == 3, "an unknown key costs a lookup every time"


async def test_forgetting_by_key_by_value_or_all_loads_again() -> None:
    cache: LoadingCache[str, str] = LoadingCache(60, 10)
    load = Loads("v")
    await cache.get("a", load)
    cache.forget("a")
    await cache.get("a", load)
    cache.forget_where(lambda value: value == "v")
    await cache.get("a", load)
    cache.clear()
    await cache.get("a", load)
    assert load.count == 4


async def test_a_lifetime_of_zero_keeps_nothing() -> None:
    cache: LoadingCache[str, str] = LoadingCache(0, 10)
    load = Loads("v")
    await cache.get("a", load)
    await cache.get("a", load)
    assert load.count == 2
