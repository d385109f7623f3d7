"""What a run reports: the tables printed at the end, and the metadata written with the JSON.

`add_overheads` sets each cell's p50/p99 minus direct's at the same delay and connections;
`print_tables` prints one table per upstream delay, the capacity table, RSS, skipped targets, core
placement and limits; `meta` records when, from which commit and with which arguments and tools the
run was made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from typing import Any

from gatewaybench.common import ROOT


def fmt(value: Any, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, float):
        return f"{value:>{width}.1f}" if abs(value) >= 100 else f"{value:>{width}.2f}"
    return f"{value:>{width}}"


def add_overheads(cells: list[dict[str, Any]]) -> None:
    """Each cell's p50/p99 minus direct's at the same delay and connections."""
    direct = {(c["delay_ms"], c["connections"]): c for c in cells if c["target"] == "direct"}
    for cell in cells:
        base = direct.get((cell["delay_ms"], cell["connections"]))
        cell["overhead_p50_ms"] = round(cell["p50_ms"] - base["p50_ms"], 2) if base else None
        cell["overhead_p99_ms"] = round(cell["p99_ms"] - base["p99_ms"], 2) if base else None


def print_tables(report: dict[str, Any]) -> None:
    cells = report["cells"]
    header = ("target", "conn", "req/s", "p50 ms", "p99 ms", "ovh p50", "ovh p99", "CPU ms/req", "of it DB")
    header += ("errors", "cores busy", "other %")
    for delay in sorted({cell["delay_ms"] for cell in cells}):
        print(f"\nUpstream delay {delay} ms ({report['duration_s']} s per cell; overhead = target - direct)")
        print("  cores busy: % busy of each core; other %: CPU spent by anything else, % of one core")
        print(f"{header[0]:<13}{header[1]:>5}" + "".join(f"{title:>11}" for title in header[2:]))
        for cell in (c for c in cells if c["delay_ms"] == delay):
            busy = "/".join(f"{cell[key]:.0f}" for key in sorted(cell) if key.endswith("_busy_pct"))
            values = [cell[key] for key in ("rps", "p50_ms", "p99_ms", "overhead_p50_ms", "overhead_p99_ms")]
            values += [cell["cpu_ms_per_req"], cell["db_cpu_ms_per_req"], cell["errors"]]
            print(
                f"{cell['target']:<13}{cell['connections']:>5}"
                + "".join(fmt(value, 11) for value in values)
                + f"{busy:>11}"
                + fmt(cell["other_cpu_pct"], 11)
            )
            if cell["errors"]:
                print(f"{'':<18}errors: {cell['non200_statuses'] or 'socket errors or timeouts'}")
    if report.get("bursts"):
        print("\nBursts: 64 non-streamed requests with one key sent at once, 500 ms upstream (3 rounds)")
        print(f"{'target':<13}{'all done in, s':>24}{'worst s':>10}{'not 200':>10}")
        for row in report["bursts"]:
            rounds = " / ".join(f"{wall:.2f}" for wall in row["all_done_s"])
            print(f"{row['target']:<13}{rounds:>24}{row['worst_s']:>10.2f}{row['non200']:>10}")
    if report["capacity"]:
        print(f"\nCapacity: {report['streams']} concurrent streams, upstream's first chunk after 2,000 ms")
        titles = ("target", "errors", "TTFT p50", "TTFT p99", "ovh p50", "ovh p99", "ovh max", "wall s")
        titles += ("CPU ms/str", "RSS MB", "other %")
        print(f"{titles[0]:<13}" + "".join(f"{title:>11}" for title in titles[1:]))
        for row in report["capacity"]:
            keys = ("errors", "ttft_p50_ms", "ttft_p99_ms", "ttft_overhead_p50_ms", "ttft_overhead_p99_ms")
            keys += ("ttft_overhead_max_ms", "wall_s", "cpu_ms_per_req", "rss_mb_after", "other_cpu_pct")
            print(f"{row['target']:<13}" + "".join(fmt(row[key], 11) for key in keys))
            if row["error_kinds"]:
                print(f"{'':<13}errors: {row['error_kinds']}")
    if report["rss_mb"]:
        print("\nRSS (MB, VmRSS summed over the process tree)")
        for gateway, figures in report["rss_mb"].items():
            print(
                f"  {gateway:<9} "
                + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in figures.items())
            )
    for name, why in report["skipped"].items():
        print(f"\nskipped {name}: {why}")
    print(f"\n{report['cores'].get('description', '')}")
    if workers := report.get("api_workers"):
        print(f"our API: API_WORKERS {workers['setting']}, {workers['processes']} process(es)")
    print(f"open files: {report['open_files']}")
    print(f"CPU busy before the run (other programs): {report.get('background_cpu_pct')}% of one core")


def meta(args: argparse.Namespace) -> dict[str, Any]:
    def git(*command: str) -> str:
        return subprocess.run(["git", *command], capture_output=True, text=True, cwd=ROOT).stdout.strip()

    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {key: str(value) for key, value in vars(args).items()},
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "cpus": os.cpu_count(),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
        if shutil.which("wrk")
        else None,
    }
