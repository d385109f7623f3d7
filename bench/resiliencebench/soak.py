"""The soak: mixed traffic for N minutes with a fault injected every few, and the API's resources sampled.

Every 5 s: the API process's resident memory, open files and threads (psutil), its requests in flight
(its own gauge on /metrics; asyncio's task count is not exposed, and this counts the request tasks),
and the database's connections (pg_stat_activity). "Flat" compares the median of the last third of
the samples with that of the second third (the first is warm-up: the embedder, the caches). An error
outside a fault window (from 10 s before the fault, for requests in flight, to 15 s after it healed)
counts against the error budget of 0.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil

from resiliencebench.deployment import Deployment
from resiliencebench.load import Load, nothing_lost, statuses, stored
from tests.llm.fake_upstream import Fault

GRACE_SECONDS = 15
IN_FLIGHT_SECONDS = 10  # the longest a request of the load takes (LLM_DEADLINE_SECONDS is 8)
FAULT_SECONDS = 10
# Growth from the second third to the last that still counts as flat.
FLAT = {"rss_mb": 0.10, "open_files": 0.25, "threads": 0.25, "in_flight": 1.0, "db_connections": 0.5}


def soak(deployment: Deployment, minutes: float, fault_every: float) -> dict[str, Any]:
    faults = _faults(deployment)
    load = Load(deployment, {"chat": 2, "stream": 2, "search": 1, "upload": 1}).start()
    started = time.time()
    samples: list[dict[str, float]] = []
    windows: list[tuple[str, float, float]] = []
    next_fault = started + fault_every
    index = 0
    while time.time() - started < minutes * 60:
        samples.append(_sample(deployment))
        if time.time() >= next_fault:
            name, inject, heal = faults[index % len(faults)]
            index += 1
            began = time.time()
            inject()
            time.sleep(FAULT_SECONDS)
            heal()
            # From before it began: requests already in flight meet the fault too.
            windows.append((name, began - IN_FLIGHT_SECONDS, time.time() + GRACE_SECONDS))
            next_fault = time.time() + fault_every
        time.sleep(5)
    outcomes = load.stop()
    outside = [o for o in outcomes if not any(start <= o.at <= end for _, start, end in windows)]
    errors = [o for o in outside if o.status is None or o.status >= 500 or not o.complete]
    found = stored(deployment, outcomes)
    return {
        "minutes": minutes,
        "requests": len(outcomes),
        "faults": [name for name, _, _ in windows],
        "outside_faults": statuses(outside),
        "errors_outside_faults": len(errors),
        "error_examples": [o.label for o in errors[:5]],
        "stored": found,
        "nothing_lost": nothing_lost(found),
        "resources": _flatness(samples),
        "samples": samples,
    }


def _faults(deployment: Deployment) -> list[tuple[str, Callable[[], None], Callable[[], None]]]:
    upstream, redis_proxy = deployment.upstream, deployment.redis_proxy
    return [
        (
            "provider 500",
            lambda: upstream.set_fault(Fault("status", 500)),
            lambda: upstream.set_fault(Fault()),
        ),
        ("Redis hangs", lambda: redis_proxy.set_mode("hang"), lambda: redis_proxy.set_mode("pass")),
        (
            "provider cuts streams",
            lambda: upstream.set_fault(Fault("cut")),
            lambda: upstream.set_fault(Fault()),
        ),
        ("Redis stopped", deployment.redis.kill, deployment.redis.start),
        ("PostgreSQL restarted", deployment.postgres.stop, lambda: _start(deployment)),
    ]


def _start(deployment: Deployment) -> None:
    deployment.postgres.start()


def _sample(deployment: Deployment) -> dict[str, float]:
    process = psutil.Process(deployment.service.api.pid)
    sample = {
        "t": time.time(),
        "rss_mb": process.memory_info().rss / 2**20,
        "open_files": float(process.num_fds()),
        "threads": float(process.num_threads()),
        "in_flight": _in_flight(deployment),
        "db_connections": -1.0,
    }
    try:
        rows = deployment.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        sample["db_connections"] = float(str(rows[0][0]))
    except Exception:  # the database is what the fault stopped
        pass
    return sample


def _in_flight(deployment: Deployment) -> float:
    try:
        text = httpx.get(f"{deployment.service.base_url}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1.0
    for line in text.splitlines():
        if line.startswith("purpose_agent_http_requests_in_flight"):
            return float(line.split()[-1])
    return -1.0


def _flatness(samples: list[dict[str, float]]) -> dict[str, Any]:
    third = max(1, len(samples) // 3)
    middle, last = samples[third : 2 * third] or samples, samples[-third:]
    report: dict[str, Any] = {}
    for name, allowed in FLAT.items():
        before = statistics.median(s[name] for s in middle if s[name] >= 0) if middle else 0.0
        after = statistics.median(s[name] for s in last if s[name] >= 0) if last else 0.0
        growth = (after - before) / before if before > 0 else (after - before)
        report[name] = {
            "second_third": round(before, 1),
            "last_third": round(after, 1),
            "max": round(max(s[name] for s in samples), 1),
            "flat": growth <= allowed,
        }
    return report
