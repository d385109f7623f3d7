"""Faults injected into a running deployment, with real processes, and what clients saw and what was stored.

Run by hand (never part of the test suite), with `redis-server` installed:

    .venv/bin/python bench/resilience.py [--scenarios providers,redis-stopped,redis-hangs,postgres,
        worker-kill,api-kill] [--soak-minutes 30] [--fault-every 180] [--out bench/results/resilience.json]

One deployment (`bench/resiliencebench/deployment.py`): its own embedded PostgreSQL, its own
redis-server behind a TCP proxy, the tests' fake OpenAI server behind another, and `purpose-agent
serve` and `worker` processes. Each scenario runs mixed traffic (chats, streams, searches, uploads)
from client threads, injects its fault for 10 s, heals it, and reports the clients' statuses during
the fault and after recovery, the seconds until chats and searches answer again, and the storage
check: no exchange lost, duplicated or half-stored, no upload without its one audit entry.
`--soak-minutes 0` skips the soak. Prints a table and writes JSON; every process is stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The bench's parts beside this script, and the tests' fakes and deployment, however it is started.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]

from resiliencebench.deployment import deployed  # noqa: E402
from resiliencebench.scenarios import SCENARIOS  # noqa: E402
from resiliencebench.soak import soak  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--soak-minutes", type=float, default=30.0)
    parser.add_argument("--fault-every", type=float, default=180.0, help="seconds between the soak's faults")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "resilience.json")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    soaked: dict[str, Any] | None = None
    with deployed(Path(tempfile.mkdtemp(prefix="resilience-"))) as deployment:
        for name in args.scenarios.split(","):
            if name:
                print(f"[{time.strftime('%H:%M:%S')}] {name}", flush=True)
                rows += SCENARIOS[name](deployment)
        if args.soak_minutes > 0:
            print(f"[{time.strftime('%H:%M:%S')}] soak, {args.soak_minutes:g} min", flush=True)
            soaked = soak(deployment, args.soak_minutes, args.fault_every)
        # Reported before the deployment is taken down: its teardown must not cost the figures.
        print_table(rows, soaked)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"scenarios": rows, "soak": soaked}, indent=2, default=str))
        print(f"written: {args.out}")


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)


def print_table(rows: list[dict[str, Any]], soaked: dict[str, Any] | None) -> None:
    print(
        "\n| scenario | injected | clients during the fault | after recovery | recovered (s) | stored |",
        end="",
    )
    print(" nothing lost |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        found = row["stored"]
        kept = (
            f"{found.get('exchanges_answered', '-')} exchanges, {found.get('uploads_accepted', '-')} uploads"
            if "exchanges_answered" in found
            else _short(found)
        )
        print(
            f"| {row['scenario']} | {row['injected']} | {_short(row['during_fault'])} | "
            f"{_short(row['after_recovery'])} | {_short(row['recovered_seconds'])} | {kept} | "
            f"{'yes' if row['nothing_lost'] else 'NO: ' + _short(found)} |"
        )
    if soaked is not None:
        faults = ", ".join(soaked["faults"])
        print(f"\nSoak, {soaked['minutes']:g} min, {soaked['requests']} requests, faults: {faults}")
        print(f"errors outside the faults: {soaked['errors_outside_faults']} {soaked['error_examples']}")
        print(f"nothing lost: {soaked['nothing_lost']} ({_short(soaked['stored'])})")
        print("| resource | 2nd third (median) | last third (median) | max | flat |")
        print("|---|---|---|---|---|")
        for name, figures in soaked["resources"].items():
            print(
                f"| {name} | {figures['second_third']} | {figures['last_third']} | {figures['max']} | "
                f"{'yes' if figures['flat'] else 'NO'} |"
            )


if __name__ == "__main__":
    main()
