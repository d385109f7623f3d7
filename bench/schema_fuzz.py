"""schemathesis over the whole OpenAPI document of a running service, long form: many requests an operation.

Run by hand (never part of the test suite):

    .venv/bin/python bench/schema_fuzz.py [--examples 200] [--seed 16] [--out bench/results/schema_fuzz.json]

The deployment is the hostile suite's (`tests/hostile/service.py`: `purpose-agent serve` and `worker`
processes, the kettle manual and persona, an admin and a user key) on an embedded PostgreSQL of the
bench's own in `.data/bench-schema` and the Redis of REDIS_URL (else 127.0.0.1:6379). Every operation
gets `--examples` positive and as many negative requests per key, checked as `tests/hostile/fuzzing.py`
says (no 5xx; status, media type, schema and headers as documented; broken requests refused; no answer
without credentials). `make test` runs the same with 3 examples. Prints a table of operations, the
requests each got, the statuses seen and the failures; writes JSON; exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from purpose_agent.db.embedded import EmbeddedPostgres  # noqa: E402
from tests.hostile.fuzzing import OperationReport, fuzz  # noqa: E402
from tests.hostile.service import AGENT, running_service  # noqa: E402
from tests.ports import free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "schema_fuzz.json")
    args = parser.parse_args()

    postgres = EmbeddedPostgres(ROOT / ".data" / "bench-schema", free_port())
    postgres.start()
    try:
        admin_url = postgres.url("postgres").replace("postgresql://", "postgresql+psycopg://")
        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        with running_service(Path(tempfile.mkdtemp(prefix="schema-fuzz-")), admin_url, redis_url) as service:
            started = time.monotonic()
            reports = fuzz(
                service.base_url,
                {"admin": service.admin_key, "user": service.user_key},
                max_examples=args.examples,
                known={"agent_id": AGENT, "model": AGENT},
                seed=args.seed,
            )
            seconds = time.monotonic() - started
    finally:
        postgres.stop()
    print_table(reports, seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "examples": args.examples,
                "seconds": round(seconds),
                "operations": [r.as_dict() for r in reports],
            },
            indent=2,
        )
    )
    print(f"written: {args.out}")
    sys.exit(1 if any(report.failures for report in reports) else 0)


def print_table(reports: list[OperationReport], seconds: float) -> None:
    by_operation: dict[str, list[OperationReport]] = {}
    for report in reports:
        by_operation.setdefault(report.operation, []).append(report)
    print("| operation | requests | statuses seen | failures |")
    print("|---|---:|---|---:|")
    for operation, runs in by_operation.items():
        statuses: Counter[int] = Counter()
        for run in runs:
            statuses.update(run.statuses)
        seen = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        failures = sum(len(run.failures) for run in runs)
        print(f"| {operation} | {sum(run.calls for run in runs)} | {seen} | {failures} |")
    total = sum(report.calls for report in reports)
    server_errors = sum(count for r in reports for status, count in r.statuses.items() if status >= 500)
    print(f"\n{total} requests in {seconds:.0f} s; 5xx: {server_errors}; failed checks: "
          f"{sum(len(r.failures) for r in reports)}")  # fmt: skip
    for report in reports:
        for message, curl in report.failures.items():
            print(f"- {report.operation} as {report.role} ({report.mode}): {message}\n  {curl[:300]}")


if __name__ == "__main__":
    main()
