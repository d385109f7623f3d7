"""What the failover router adds over calling the same fake upstream directly, and what a dead provider costs.

Run by hand (never part of the test suite):

    .venv/bin/python bench/router_overhead.py [--requests 400]

The fake vendors run in their own processes (so they do not share our interpreter), speaking
OpenAI's and Anthropic's wire formats on 127.0.0.1. Scenarios:

- direct:  the OpenAI SDK calling the fake, as an application would without us;
- router:  the same call through `LLMRouter` and our OpenAI adapter;
- dead primary, breaker open:  a chain whose first provider refuses connections and whose breaker
  has opened, then the healthy one;
- timing-out primary:  a first provider that hangs past its read timeout until its breaker opens.

Prints a table and writes bench/results/router_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from purpose_agent.kit.backoff import BackoffPolicy  # noqa: E402
from purpose_agent.llm.breaker import BreakerPolicy, MemoryBreakers  # noqa: E402
from purpose_agent.llm.providers.anthropic import AnthropicProvider  # noqa: E402
from purpose_agent.llm.providers.base import Provider, ProviderConfig  # noqa: E402
from purpose_agent.llm.providers.openai import OpenAIProvider  # noqa: E402
from purpose_agent.llm.router import LLMRouter, RouterPolicy  # noqa: E402
from purpose_agent.llm.types import ChatRequest, Message  # noqa: E402

REQUEST = ChatRequest(
    messages=(Message("user", "How long is the refund window?"),), temperature=0.0, max_tokens=32
)
KEY = "sk-bench-0000000000000000"


def _serve(wire_name: str, port: int, hang: bool) -> None:
    from tests.llm.fake_anthropic import AnthropicWire
    from tests.llm.fake_openai import OpenAIWire
    from tests.llm.fake_upstream import FakeUpstream, Fault

    wire = OpenAIWire() if wire_name == "openai" else AnthropicWire()
    upstream = FakeUpstream(wire)
    upstream.port = port
    if hang:
        upstream.set_fault(Fault(kind="hang", hang_seconds=60))
    upstream.start()
    while True:
        time.sleep(3600)


def start_fake(wire_name: str, hang: bool = False) -> tuple[multiprocessing.Process, str]:
    from tests.ports import free_port

    port = free_port()
    process = multiprocessing.Process(target=_serve, args=(wire_name, port, hang), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.post(f"{base}/nothing", timeout=0.5)
            return process, base
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("fake upstream did not start")


async def measure(call: Callable[[], Awaitable[object]], requests: int, concurrency: int) -> list[float]:
    """Latencies in ms of `requests` calls made by `concurrency` workers."""
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def router_of(providers: list[Provider], threshold: int = 3) -> LLMRouter:
    return LLMRouter(
        providers,
        MemoryBreakers(BreakerPolicy(failure_threshold=threshold, cooldown_seconds=600)),
        RouterPolicy(deadline_seconds=30, backoff=BackoffPolicy(0.01, 0.05)),
        retries={provider.name: 0 for provider in providers},
    )


async def run(requests: int) -> dict[str, object]:
    _, openai_base = start_fake("openai")
    _, hanging_base = start_fake("anthropic", hang=True)
    from tests.ports import refused_url

    direct_client = openai.AsyncOpenAI(base_url=f"{openai_base}/v1", api_key=KEY, max_retries=0)
    healthy = OpenAIProvider(
        ProviderConfig(name="openai", model="gpt-4o", api_key=KEY, base_url=f"{openai_base}/v1")
    )
    router = router_of([healthy])

    async def direct() -> object:
        return await direct_client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "How long is the refund window?"}],
            max_tokens=32,
        )

    async def routed() -> object:
        return await router.complete(REQUEST)

    rows: list[dict[str, object]] = []
    for concurrency in (1, 4, 16, 64):
        await measure(direct, 50, concurrency)  # warm the connection pools
        await measure(routed, 50, concurrency)
        direct_ms = await measure(direct, requests, concurrency)
        routed_ms = await measure(routed, requests, concurrency)
        rows.append(
            {
                "concurrency": concurrency,
                "direct_p50_ms": round(percentile(direct_ms, 0.5), 3),
                "router_p50_ms": round(percentile(routed_ms, 0.5), 3),
                "direct_p99_ms": round(percentile(direct_ms, 0.99), 3),
                "router_p99_ms": round(percentile(routed_ms, 0.99), 3),
                "added_p50_ms": round(percentile(routed_ms, 0.5) - percentile(direct_ms, 0.5), 3),
                "added_p99_ms": round(percentile(routed_ms, 0.99) - percentile(direct_ms, 0.99), 3),
            }
        )

    dead = AnthropicProvider(
        ProviderConfig(name="anthropic", model="claude", api_key=KEY, base_url=refused_url())
    )
    dead_router = router_of([dead, healthy])
    for _ in range(3):  # open the dead provider's breaker
        await dead_router.complete(REQUEST)
    dead_ms = await measure(lambda: dead_router.complete(REQUEST), requests, 1)
    healthy_ms = await measure(routed, requests, 1)

    hanging = AnthropicProvider(
        ProviderConfig(
            name="anthropic", model="claude", api_key=KEY, base_url=hanging_base, read_timeout=0.25
        )
    )
    outage_router = router_of([hanging, healthy], threshold=5)
    outage_ms = await measure(lambda: outage_router.complete(REQUEST), requests, 4)
    healthy4_ms = await measure(routed, requests, 4)

    await direct_client.close()
    for each in (router, dead_router, outage_router):
        await each.aclose()
    return {
        "overhead": rows,
        "dead_primary_breaker_open": {
            "healthy_p50_ms": round(percentile(healthy_ms, 0.5), 3),
            "dead_primary_p50_ms": round(percentile(dead_ms, 0.5), 3),
            "added_p50_ms": round(percentile(dead_ms, 0.5) - percentile(healthy_ms, 0.5), 3),
            "added_p99_ms": round(percentile(dead_ms, 0.99) - percentile(healthy_ms, 0.99), 3),
        },
        "timing_out_primary": {
            "requests": requests,
            "healthy_p99_ms": round(percentile(healthy4_ms, 0.99), 3),
            "outage_p99_ms": round(percentile(outage_ms, 0.99), 3),
            "outage_p50_ms": round(statistics.median(outage_ms), 3),
            "slow_requests_over_200ms": sum(1 for value in outage_ms if value > 200),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    args = parser.parse_args()
    result = asyncio.run(run(args.requests))

    print("Router overhead over a direct SDK call to the same fake upstream (ms)")
    header = ("conc", "direct p50", "router p50", "added p50", "direct p99", "router p99", "added p99")
    print(f"{header[0]:>5}" + "".join(f" {title:>11}" for title in header[1:]))
    keys = (
        "direct_p50_ms",
        "router_p50_ms",
        "added_p50_ms",
        "direct_p99_ms",
        "router_p99_ms",
        "added_p99_ms",
    )
    for row in result["overhead"]:  # type: ignore[attr-defined]
        print(f"{row['concurrency']:>5}" + "".join(f" {row[key]:>11}" for key in keys))
    dead = result["dead_primary_breaker_open"]
    print(f"\nDead primary with its breaker open: {dead}")
    print(f"Timing-out primary (read timeout 250 ms, breaker after 5): {result['timing_out_primary']}")
    out = ROOT / "bench" / "results" / "router_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
