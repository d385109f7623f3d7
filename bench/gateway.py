"""What our OpenAI-compatible gateway adds over calling the upstream directly, beside LiteLLM's proxy.

Run by hand (never part of the test suite), as root on a machine with Debian's packages:

    .venv/bin/python bench/gateway.py [--duration 10] [--connections 1,4,16,64] [--delays 0,500]
        [--targets direct,litellm,ours-gateway,ours-rag] [--skip-capacity] [--streams 1000]
        [--api-workers 1] [--warmup 2] [--data-dir .data/bench] [--out bench/results/gateway.json]

Everything runs on 127.0.0.1 against one fake upstream: our own nginx (Debian's nginx-light with the
echo module, installed with apt-get on first use, its service kept from starting) answering an
OpenAI chat completion, or a short SSE stream when the body says `"stream": true`, after the delay
named in the model (`fake-d500`: 500 ms). Targets, each driven by wrk (closed loop, a Lua script):

- direct:        wrk calling the fake upstream itself (the baseline);
- litellm:       LiteLLM's proxy (`litellm[proxy]`, in a venv of its own under .data/, 2 workers);
- ours-gateway:  our `/v1/chat/completions` on a persona with retrieval off;
- ours-rag:      the same on a persona with retrieval on over the sample `support` documents, with a
                 different question on every request.

Overhead is a target's p50/p99 minus direct's at the same connections and delay. CPU ms per request
is utime+stime of the gateway's process tree (for ours also the PostgreSQL server's) over the cell,
divided by the requests served. A capacity run then opens 1,000 concurrent streamed requests
against a 2 s upstream (direct, then LiteLLM and ours if among the targets; ours on one API process,
retrieval off unless the persona field is missing) and records errors and time to first content
chunk. With a 500 ms delay in the run, bursts of 64 non-streamed requests with one key are sent at
once (3 rounds) and timed until the last answer.

Our service runs from the working tree with the embedded PostgreSQL in DATA_DIR (`--data-dir`,
default .data/bench, on a free port), so the bench never touches the development database.
On 2 cores, nginx, wrk and the stream client share one core and the gateway under test has the
other. Each cell also reports how busy each core was and `other %`: CPU that none of the measured
processes spent (another program running meanwhile makes the figures unreliable). Prints tables and
writes bench/results/gateway.json; a default run takes about 8 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The parts live in bench/gatewaybench/, next to this script: importable however it is started.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gatewaybench.burst import BURST_DELAY_MS, BURST_SIZE, burst
from gatewaybench.common import CAPACITY_DELAY_MS, ROOT, UPSTREAM_KEY, log
from gatewaybench.litellm import start_litellm
from gatewaybench.load import capacity, measure_cell, run_wrk
from gatewaybench.measure import background_load, rss_mb
from gatewaybench.ours import Ours
from gatewaybench.processes import Cores, Processes, apt_install, raise_open_files
from gatewaybench.report import add_overheads, meta, print_tables
from gatewaybench.targets import Target, check_target, drain
from gatewaybench.upstream import start_nginx

TARGETS = ("direct", "litellm", "ours-gateway", "ours-rag")


def run(
    args: argparse.Namespace,
    workdir: Path,
    processes: Processes,
    cleanups: list[Callable[[], None]],
    report: dict[str, Any],
) -> None:
    targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = [name for name in targets if name not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown targets {unknown} (known: {', '.join(TARGETS)})")
    delays = [int(value) for value in args.delays.split(",")]
    connections = [int(value) for value in args.connections.split(",")]
    cores = Cores.plan()
    os.sched_setaffinity(0, cores.load)  # the bench and its stream client share the load core
    report["cores"] = {
        "upstream": cores.upstream,
        "load": cores.load,
        "gateway": cores.gateway,
        "description": cores.describe(),
    }
    report["open_files"] = raise_open_files(2 * args.streams + 200)
    log(cores.describe())
    report["background_cpu_pct"] = background_load()
    if not shutil.which("wrk"):
        apt_install(["wrk"])

    capacity_delays = set() if args.skip_capacity else {CAPACITY_DELAY_MS}
    upstream_port, upstream_pid = start_nginx(processes, workdir, cores.upstream, {*delays, *capacity_delays})
    log(f"fake upstream (nginx) on 127.0.0.1:{upstream_port}, pid {upstream_pid}")
    direct = Target("direct", upstream_port, UPSTREAM_KEY, lambda ms: f"fake-d{ms}", lambda: [])
    available: dict[str, Target] = {"direct": direct}
    skipped: dict[str, str] = report["skipped"]

    litellm = None
    if "litellm" in targets:
        try:
            litellm = start_litellm(
                processes, workdir, cores.gateway, upstream_port, {*delays, *capacity_delays}
            )
            available["litellm"] = litellm
            report["meta"]["litellm"] = litellm.version
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            skipped["litellm"] = str(error)
            log(f"skipping litellm: {error}")
            tail = (
                (workdir / "litellm.log").read_text(errors="replace")[-2000:]
                if (workdir / "litellm.log").exists()
                else ""
            )
            if tail:
                print(tail)

    ours = None
    if any(name.startswith("ours") for name in targets):
        ours = Ours(
            processes, workdir, cores.gateway, args.data_dir.resolve(), upstream_port, args.api_workers
        )
        cleanups.append(ours.stop)
        ours.prepare({*delays, *capacity_delays})
        report["api_workers"] = {"setting": ours.api_workers, "processes": ours.api_processes}
        available["ours-rag"] = ours.target("ours-rag")
        if ours.retrieval_switch is None:
            available["ours-gateway"] = ours.target("ours-gateway")
        else:
            skipped["ours-gateway"] = ours.retrieval_switch
            log(f"skipping ours-gateway: {ours.retrieval_switch}")
        for name in ("ours-gateway", "ours-rag"):
            if name in available:
                check_target(available[name], min(delays))

    offset = 0
    for delay in delays:
        for name in targets:
            target = available.get(name)
            if target is None:
                continue
            # A short warm-up: connection pools, caches and lazy imports before the first cell.
            offset += 1
            run_wrk(workdir, target, delay, 4, args.warmup, cores.load, offset * 10_000_000)
            drain(target, delay)
            for count in connections:
                offset += 1
                cell = measure_cell(
                    workdir, target, delay, count, args.duration, cores, upstream_pid, offset * 10_000_000
                )
                report["cells"].append(cell)
                drain(target, delay)
                log(
                    f"delay {delay} ms {name:>12} c={count:<3} {cell['rps']:>8} req/s"
                    f"  p50 {cell['p50_ms']} ms  p99 {cell['p99_ms']} ms"
                    f"  cpu {cell['cpu_ms_per_req']} ms/req  errors {cell['errors']}"
                )
            if target.name != "direct":
                gateway = "ours" if name.startswith("ours") else name
                report["rss_mb"].setdefault(gateway, {})["after_cells"] = rss_mb(target.roots())
    if ours is not None and ours.postmaster():
        report["rss_mb"].setdefault("ours", {})["postgres_after_cells"] = rss_mb([ours.postmaster() or 0])

    if BURST_DELAY_MS in delays:
        log(f"bursts: {BURST_SIZE} requests with one key at once, {BURST_DELAY_MS} ms upstream")
        for name in targets:
            if name == "direct" or (target := available.get(name)) is None:
                continue
            row = burst(target)
            report["bursts"].append(row)
            log(f"burst {name}: all done in {row['all_done_s']} s, {row['non200']} not 200")

    if not args.skip_capacity:
        log(f"capacity: {args.streams} concurrent streams against a {CAPACITY_DELAY_MS} ms upstream")
        runs = [(direct, f"fake-d{CAPACITY_DELAY_MS}")]
        if litellm is not None:
            runs.append((litellm, f"fake-d{CAPACITY_DELAY_MS}"))
        if ours is not None:
            if ours.api_workers != 1:
                ours.stop_api()
                ours.env["API_WORKERS"] = "1"
                ours.api_workers = 1
                ours.start_api()
            kind = "ours-gateway" if ours.retrieval_switch is None else "ours-rag"
            runs.append((ours.target(kind), f"bench-{kind.removeprefix('ours-')}-d{CAPACITY_DELAY_MS}"))
        for target, model in runs:
            row = capacity(target, args.streams, upstream_pid, model)
            report["capacity"].append(row)
            log(
                f"capacity {target.name}: {row['errors']} errors,"
                f" TTFT overhead p50 {row['ttft_overhead_p50_ms']} p99 {row['ttft_overhead_p99_ms']} ms,"
                f" wall {row['wall_s']} s"
            )
            time.sleep(2)
    if litellm is not None:
        report["rss_mb"].setdefault("litellm", {})["after_run"] = rss_mb(litellm.roots())
    if ours is not None and ours.api is not None:
        report["rss_mb"].setdefault("ours", {})["after_run"] = rss_mb([ours.api.pid])
        report["rss_mb"]["ours"]["postgres_after_run"] = rss_mb([ours.postmaster() or 0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per cell")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per target and delay")
    parser.add_argument("--connections", default="1,4,16,64")
    parser.add_argument("--delays", default="0,500", help="upstream delays in ms")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams of the capacity run")
    parser.add_argument("--api-workers", type=int, default=1, help="our API processes (API_WORKERS)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data" / "bench", help="our DATA_DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gateway.json")
    args = parser.parse_args()

    report: dict[str, Any] = {
        "meta": meta(args),
        "duration_s": args.duration,
        "streams": args.streams,
        "cells": [],
        "capacity": [],
        "bursts": [],
        "rss_mb": {},
        "skipped": {},
        "cores": {},
        "open_files": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    workdir.chmod(0o755)
    processes = Processes()
    cleanups: list[Callable[[], None]] = []
    started = time.monotonic()
    try:
        run(args, workdir, processes, cleanups, report)
    except KeyboardInterrupt:
        report["error"] = "interrupted"
        log("interrupted: stopping what was started")
    except Exception as error:
        report["error"] = f"{type(error).__name__}: {error}"
        log(f"failed: {report['error']} (logs in {workdir})")
        raise
    finally:
        for stop in reversed(cleanups):
            stop()
        processes.stop_all()
        add_overheads(report["cells"])
        report["wall_s"] = round(time.monotonic() - started, 1)
        out = args.out if args.out.is_absolute() else Path.cwd() / args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        if report["cells"] or report["capacity"] or report["bursts"]:
            print_tables(report)
        print(f"\nwhole run {report['wall_s']} s; written to {out}; logs in {workdir}")


if __name__ == "__main__":
    main()
