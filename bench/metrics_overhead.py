"""The CPU the HTTP metrics add to a request, and what a scrape costs; the target is under 0.2 ms a request.

Run by hand (never part of the test suite):

    .venv/bin/python bench/metrics_overhead.py [--requests 4000] [--rounds 7]

The real app (`create_app`, every middleware, no database needed for these routes) is called in
process through ASGI, one request after another, so that nothing but the app spends the CPU. Each
scenario runs in rounds that alternate the app as built (recording the HTTP metrics) with the same
app whose metrics recorder does nothing; the median CPU time per request of each is compared.
Scenarios: a matched route (GET /health), an unknown path (404, `unmatched`), and a request refused
before routing (429 from the rate limits: its route is found by walking the routes). Each mode runs
in a process of its own: one process (the default registry), and several API processes
(prometheus-client's multiprocess mode: values in memory-mapped files).

Prints a table and writes bench/results/metrics_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCENARIOS = {
    "matched route (GET /health)": ("GET", "/health", {}),
    "unknown path (404)": ("GET", "/no/such/path", {}),
    "refused before routing (429)": ("GET", "/api/agents", {"rate_limit_per_ip": "1/hour"}),
}
TARGET_MS = 0.2


def _app(changes: dict[str, str], *, record: bool) -> Any:
    from purpose_agent.app import create_app
    from purpose_agent.kit.http_metrics import HttpMetrics
    from purpose_agent.kit.request_context import RequestContextMiddleware
    from purpose_agent.settings import Settings

    class NoMetrics(HttpMetrics):
        def started(self) -> None:
            return None

        def finished(self, scope: Any, status: int, seconds: float, root_path: str = "") -> None:
            return None

    # No Redis: the rate limits in memory, so that nothing but this process spends CPU.
    app = create_app(Settings(_env_file=None, redis_url="", **changes))
    if not record:
        for middleware in app.user_middleware:
            if middleware.cls is RequestContextMiddleware:
                middleware.kwargs["metrics"] = NoMetrics()
    return app


async def _call(app: Any, method: str, path: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50_000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _cpu_per_request_ms(app: Any, method: str, path: str, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        await _call(app, method, path)
    return (time.process_time() - started) * 1000 / requests


async def _scenario(
    method: str, path: str, changes: dict[str, str], requests: int, rounds: int
) -> dict[str, Any]:
    recording, silent = _app(changes, record=True), _app(changes, record=False)
    for app in (recording, silent):  # warm up (and spend the rate limit's one allowed request)
        for _ in range(50):
            await _call(app, method, path)
    statuses = {await _call(app, method, path) for app in (recording, silent)}
    with_metrics, without = [], []
    for _ in range(rounds):
        with_metrics.append(await _cpu_per_request_ms(recording, method, path, requests))
        without.append(await _cpu_per_request_ms(silent, method, path, requests))
    median_with, median_without = statistics.median(with_metrics), statistics.median(without)
    return {
        "statuses": sorted(statuses),
        "cpu_ms_with_metrics": round(median_with, 4),
        "cpu_ms_without": round(median_without, 4),
        "added_ms": round(median_with - median_without, 4),
    }


def _recorder_alone_ms(calls: int) -> dict[str, float]:
    """The recorder's own calls per request, without the app around them: a steadier number."""
    from purpose_agent.kit.http_metrics import HttpMetrics
    from purpose_agent.kit.request_context import RequestContextMiddleware

    app = _app({}, record=True)
    [metrics] = [m.kwargs["metrics"] for m in app.user_middleware if m.cls is RequestContextMiddleware]
    assert isinstance(metrics, HttpMetrics)
    refused = {"type": "http", "method": "GET", "path": "/api/agents", "root_path": ""}
    [route] = [route for route in metrics.routes if getattr(route, "path_format", "") == "/api/agents"]
    routed = {**refused, "route": route}
    results = {}
    for name, scope, status in (("routed", routed, 200), ("refused before routing", refused, 429)):
        started = time.process_time()
        for _ in range(calls):
            metrics.started()
            metrics.finished(scope, status, 0.001)
        results[name] = round((time.process_time() - started) * 1000 / calls, 5)
    return results


def _scrape_ms(scrapes: int) -> float:
    from purpose_agent.composition import api_metrics
    from purpose_agent.settings import Settings

    exposition = api_metrics(Settings(_env_file=None))
    started = time.perf_counter()
    for _ in range(scrapes):
        exposition.render()
    return (time.perf_counter() - started) * 1000 / scrapes


def measure(requests: int, rounds: int) -> dict[str, Any]:
    """This process's measurements (its metrics mode was chosen by its environment)."""
    results = {
        name: asyncio.run(_scenario(method, path, changes, requests, rounds))
        for name, (method, path, changes) in SCENARIOS.items()
    }
    return {
        "scenarios": results,
        "recorder_alone_ms": _recorder_alone_ms(requests * 10),
        "render_ms": round(_scrape_ms(50), 3),
    }


def _in_child(mode: str, requests: int, rounds: int) -> dict[str, Any]:
    env = {**os.environ}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as directory:
        if mode == "multiprocess":
            env["PROMETHEUS_MULTIPROC_DIR"] = directory
        output = subprocess.run(
            [sys.executable, __file__, "--child", "--requests", str(requests), "--rounds", str(rounds)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per round and app")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per scenario")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.requests, args.rounds)))
        return

    modes = {mode: _in_child(mode, args.requests, args.rounds) for mode in ("one process", "multiprocess")}
    print(f"CPU per request, median of {args.rounds} rounds of {args.requests} requests (ms)")
    print(
        f"{'mode':<13} {'scenario':<30} {'status':>6} {'with':>8} {'without':>8} {'added':>8} "
        f"{f'< {TARGET_MS}':>6}"
    )
    for mode, result in modes.items():
        for name, row in result["scenarios"].items():
            status = "/".join(str(code) for code in row["statuses"])
            verdict = "yes" if row["added_ms"] < TARGET_MS else "NO"
            print(
                f"{mode:<13} {name:<30} {status:>6} {row['cpu_ms_with_metrics']:>8.4f} "
                f"{row['cpu_ms_without']:>8.4f} {row['added_ms']:>8.4f} {verdict:>6}"
            )
    for mode, result in modes.items():
        alone = ", ".join(f"{name} {ms} ms" for name, ms in result["recorder_alone_ms"].items())
        print(f"{mode}: the recorder's calls alone: {alone}; a scrape renders in {result['render_ms']} ms")
    out = ROOT / "bench" / "results" / "metrics_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"requests": args.requests, "rounds": args.rounds, "modes": modes}, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
