"""What tracing costs a request: the same API with TRACING_ENABLED off, with a 10% sampler, and always on.

Run by hand (never part of the test suite):

    .venv/bin/python bench/tracing_overhead.py [--requests 400] [--warmup 60] [--routes gateway,rag,health]
        [--out bench/results/tracing_overhead.json]

Everything runs on 127.0.0.1: an embedded PostgreSQL in a data folder of its own (a free port), the fake
OpenAI server of the tests and an OTLP receiver that accepts every export (each in a process of its own),
and one `purpose-agent serve` process per mode on the one database (`--modes`, all by default):

- off:   TRACING_ENABLED=false (the default);
- 0%:    TRACING_ENABLED=true, a sampler that keeps nothing (what a request the sampler drops pays);
- 10%:   TRACING_ENABLED=true, OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0.1;
- 100%:  TRACING_ENABLED=true, OTEL_TRACES_SAMPLER=always_on (for scale).

Each route is asked one request at a time, the servers in turn (off, 0%, 10%, 100%, off, ...), so a
neighbour's load on the machine falls on all of them alike. Routes: `/v1/chat/completions` on a persona
with retrieval off (the gateway), `/api/chat` on one with retrieval on (embedding, hybrid search,
session write), and `/health`. Overhead is a mode's latency minus off's (median and mean); CPU ms per
request is the server process's utime+stime over the measured requests. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ports import free_port  # noqa: E402

COMMAND = str(ROOT / ".venv" / "bin" / "purpose-agent")
UPSTREAM_KEY = "sk-bench-0000000000000000"
MANUAL = """# Kettle manual

## Cleaning

Descale the kettle monthly with white vinegar. Rinse twice before boiling again.

## Warranty

The heating element is covered for five years. Keep the receipt to claim a repair.
"""
MODES = {
    "off": {"TRACING_ENABLED": "false"},
    # Every request unsampled: what tracing costs a request the sampler drops.
    "0%": {
        "TRACING_ENABLED": "true",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",
    },
    "10%": {
        "TRACING_ENABLED": "true",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    },
    "100%": {"TRACING_ENABLED": "true", "OTEL_TRACES_SAMPLER": "always_on"},
}


def _serve_upstream(port: int) -> None:
    from tests.llm.fake_openai import OpenAIWire
    from tests.llm.fake_upstream import FakeUpstream

    upstream = FakeUpstream(OpenAIWire())
    upstream.port = port
    upstream.start()
    while True:
        time.sleep(3600)


class _AcceptEverything(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that reads each export and answers success (an empty protobuf message)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve_otlp(port: int) -> None:
    http.server.ThreadingHTTPServer(("127.0.0.1", port), _AcceptEverything).serve_forever()


def start_process(target: Any, port: int) -> multiprocessing.Process:
    process = multiprocessing.Process(target=target, args=(port,), daemon=True)
    process.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            httpx.post(f"http://127.0.0.1:{port}/nothing", timeout=0.5)
            return process
        time.sleep(0.05)
    raise RuntimeError(f"{target.__name__} did not start")


@dataclass
class Server:
    mode: str
    port: int
    process: subprocess.Popen[bytes]
    latencies: dict[str, list[float]] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Deployment:
    def __init__(self, workdir: Path, upstream: str, otlp: str) -> None:
        self.workdir = workdir
        self.env = {
            **{key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "LOG_"))},
            "DATA_DIR": str(workdir / ".data"),
            "EMBEDDED_DB_PORT": str(free_port()),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "RATE_LIMIT_ENABLED": "false",
            "PERSONAS_FILE": str(workdir / "no-personas.json"),
            "APP_ENV": "development",
            "LOG_FORMAT": "json",
            "LLM_CHAIN": "openai",
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": f"{upstream}/v1",
            "OPENAI_MODEL": "gpt-4o",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
        }
        self.servers: list[Server] = []
        self.key = ""

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [COMMAND, *args], cwd=self.workdir, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"purpose-agent {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def prepare(self) -> None:
        self.run("db", "start")
        self.run("migrate")
        manual = self.workdir / "knowledge" / "manuals" / "kettle.md"
        manual.parent.mkdir(parents=True)
        manual.write_text(MANUAL)
        self.run("ingest", str(manual.parents[1]))
        self.key = self.run("keys", "create", "--role", "admin", "--name", "bench").strip().splitlines()[-1]

    def serve(self, mode: str) -> Server:
        port = free_port()
        with (self.workdir / f"serve-{port}.log").open("wb") as log:
            process = subprocess.Popen(
                [COMMAND, "serve", "--port", str(port)],
                cwd=self.workdir,
                env={**self.env, **MODES[mode]},
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    server = Server(mode, port, process)
                    self.servers.append(server)
                    return server
            if process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"serve ({mode}) did not come up; see {self.workdir}/serve-{port}.log")

    def stop(self) -> None:
        for server in self.servers:
            server.process.terminate()
            server.process.wait(timeout=30)
        subprocess.run([COMMAND, "db", "stop"], cwd=self.workdir, env=self.env, capture_output=True)


def personas(client: httpx.Client) -> None:
    common = {"description": "Bench", "knowledge_category": "manuals", "min_score": -1.0}
    for persona_id, retrieval in (("bench-gateway", False), ("bench-rag", True)):
        body = {"id": persona_id, "name": persona_id, "retrieval": retrieval, **common}
        answer = client.post("/api/personas", json=body)
        if answer.status_code not in (201, 409):
            raise RuntimeError(f"persona {persona_id}: {answer.status_code} {answer.text}")


def requests_of(route: str, number: int) -> tuple[str, str, dict[str, Any] | None]:
    if route == "gateway":
        body = {"model": "bench-gateway", "messages": [{"role": "user", "content": f"Question {number}?"}]}
        return "POST", "/v1/chat/completions", body
    if route == "rag":
        question = f"How long is the heating element covered? ({number})"
        return "POST", "/api/chat", {"agent_id": "bench-rag", "question": question}
    return "GET", "/health", None


def measure(
    servers: list[Server], clients: dict[str, httpx.Client], route: str, warmup: int, count: int
) -> None:
    for number in range(warmup):
        for server in servers:
            method, path, body = requests_of(route, number)
            clients[server.mode].request(method, path, json=body).raise_for_status()
    cpu_before = {server.mode: server.cpu_seconds() for server in servers}
    for server in servers:
        server.latencies[route] = []
    for number in range(count):
        for server in servers:
            method, path, body = requests_of(route, warmup + number)
            started = time.perf_counter()
            clients[server.mode].request(method, path, json=body).raise_for_status()
            server.latencies[route].append((time.perf_counter() - started) * 1000)
    for server in servers:
        server.cpu_ms[route] = (server.cpu_seconds() - cpu_before[server.mode]) * 1000 / count


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(servers: list[Server], routes: list[str]) -> list[dict[str, Any]]:
    rows = []
    off = next(server for server in servers if server.mode == "off")
    for route in routes:
        for server in servers:
            values = server.latencies[route]
            rows.append(
                {
                    "route": route,
                    "mode": server.mode,
                    "requests": len(values),
                    "p50_ms": round(statistics.median(values), 3),
                    "p90_ms": round(percentile(values, 0.9), 3),
                    "p99_ms": round(percentile(values, 0.99), 3),
                    "mean_ms": round(statistics.fmean(values), 3),
                    "cpu_ms_per_request": round(server.cpu_ms[route], 3),
                    "added_p50_ms": round(
                        statistics.median(values) - statistics.median(off.latencies[route]), 3
                    ),
                    "added_mean_ms": round(
                        statistics.fmean(values) - statistics.fmean(off.latencies[route]), 3
                    ),
                    "added_cpu_ms": round(server.cpu_ms[route] - off.cpu_ms[route], 3),
                }
            )
    header = (
        f"{'route':<8} {'mode':<5} {'n':>5} {'p50':>8} {'p90':>8} {'p99':>8} {'mean':>8} "
        f"{'cpu/req':>8} {'+p50':>7} {'+mean':>7} {'+cpu':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['route']:<8} {row['mode']:<5} {row['requests']:>5} {row['p50_ms']:>8.2f} "
            f"{row['p90_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['mean_ms']:>8.2f} "
            f"{row['cpu_ms_per_request']:>8.2f} "
            f"{row['added_p50_ms']:>+7.2f} {row['added_mean_ms']:>+7.2f} {row['added_cpu_ms']:>+7.2f}"
        )
    print("(milliseconds; + columns: minus the same route with tracing off)")
    return rows


@contextlib.contextmanager
def deployment(workdir: Path) -> Iterator[Deployment]:
    upstream_port, otlp_port = free_port(), free_port()
    helpers = [start_process(_serve_upstream, upstream_port), start_process(_serve_otlp, otlp_port)]
    built = Deployment(workdir, f"http://127.0.0.1:{upstream_port}", f"http://127.0.0.1:{otlp_port}")
    try:
        built.prepare()
        yield built
    finally:
        built.stop()
        for helper in helpers:
            helper.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="measured requests per route and mode")
    parser.add_argument(
        "--warmup", type=int, default=60, help="unmeasured requests first, per route and mode"
    )
    parser.add_argument("--routes", default="gateway,rag,health")
    parser.add_argument("--modes", default=",".join(MODES), help="off is always measured, as the baseline")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tracing_overhead.json")
    args = parser.parse_args()
    routes = [route.strip() for route in args.routes.split(",") if route.strip()]

    with tempfile.TemporaryDirectory(prefix="tracing-bench-") as folder, deployment(Path(folder)) as built:
        modes = ["off", *(mode for mode in args.modes.split(",") if mode in MODES and mode != "off")]
        servers = [built.serve(mode) for mode in modes]
        clients = {
            server.mode: httpx.Client(
                base_url=f"http://127.0.0.1:{server.port}", headers={"X-API-Key": built.key}, timeout=30
            )
            for server in servers
        }
        personas(clients["off"])
        for route in routes:
            measure(servers, clients, route, args.warmup, args.requests)
        rows = report(servers, routes)
        for client in clients.values():
            client.close()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "modes": MODES, "rows": rows}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
