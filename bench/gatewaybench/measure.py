"""CPU and memory, read from /proc around each measured cell.

CPU seconds of process trees (live ones and their reaped children), VmRSS summed over a tree, how
busy each core was, and what the whole machine spent; `Meter` turns the difference between its
start() and stop() into CPU ms per request for the gateway, its database, the upstream and the load
generator, plus `other %`, the CPU none of them spent. `background_load` checks, before anything
starts, that the machine is idle enough for the figures to mean something.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatewaybench.common import log
from gatewaybench.processes import tree

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_MB = 1024.0


def cpu_seconds(roots: list[int]) -> float:
    """utime+stime of the trees, plus the reaped children's (cutime+cstime): each CPU second once."""
    ticks = 0
    for root in roots:
        for pid in tree(root):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def rss_mb(roots: list[int]) -> float:
    total_kb = 0
    for root in roots:
        for pid in tree(root):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
    return round(total_kb / PAGE_MB, 1)


def core_times() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies of each core."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            numbers = [int(value) for value in values[:8]]
            idle = numbers[3] + numbers[4]
            times[int(name[3:])] = (sum(numbers) - idle, sum(numbers))
    return times


def process_jiffies() -> int:
    """user+nice+system time of the whole machine: what processes spend, without interrupts."""
    values = Path("/proc/stat").read_text().splitlines()[0].split()[1:4]
    return sum(int(value) for value in values)


def own_cpu() -> float:
    """The bench's CPU and its reaped children's (wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


@dataclass
class Meter:
    """CPU of process trees and of each core between start() and stop(), and of everything else.

    `other_cpu_pct` is the CPU that neither the gateway, its database, the upstream, wrk nor the bench
    spent, in % of one core: an idle gateway's background work, or another program disturbing the run.
    """

    roots: list[int]
    db_roots: list[int]
    upstream: int
    marks: dict[str, float] = field(default_factory=dict)
    cores: dict[int, tuple[int, int]] = field(default_factory=dict)

    def _read(self) -> dict[str, float]:
        return {
            "gateway": cpu_seconds(self.roots),
            "db": cpu_seconds(self.db_roots),
            "upstream": cpu_seconds([self.upstream]),
            "own": own_cpu(),
            "machine": process_jiffies() / CLOCK_TICKS,
            "wall": time.monotonic(),
        }

    def start(self) -> None:
        self.marks, self.cores = self._read(), core_times()

    def stop(self, requests: int) -> dict[str, Any]:
        now, cores = self._read(), core_times()
        spent = {name: now[name] - self.marks[name] for name in now}
        per = 1000 / max(requests, 1)
        busy = {
            f"core{core}_busy_pct": round(100 * (cores[core][0] - busy) / max(cores[core][1] - total, 1), 1)
            for core, (busy, total) in self.cores.items()
        }
        known = spent["gateway"] + spent["db"] + spent["upstream"] + spent["own"]
        return {
            "cpu_ms_per_req": round((spent["gateway"] + spent["db"]) * per, 3) if self.roots else None,
            "gateway_cpu_ms_per_req": round(spent["gateway"] * per, 3) if self.roots else None,
            "db_cpu_ms_per_req": round(spent["db"] * per, 3) if self.db_roots else None,
            "upstream_cpu_ms_per_req": round(spent["upstream"] * per, 3),
            "loadgen_cpu_ms_per_req": round(spent["own"] * per, 3),
            "other_cpu_pct": round(100 * max(spent["machine"] - known, 0) / spent["wall"], 1),
            **busy,
        }


def background_load(seconds: float = 2) -> float:
    """CPU the machine spends before the bench starts anything, in % of one core: a disturbed run."""
    before, started = process_jiffies(), time.monotonic()
    time.sleep(seconds)
    used = (process_jiffies() - before) / CLOCK_TICKS
    percent = round(100 * used / (time.monotonic() - started), 1)
    if percent > 10:
        # Over the last 2 s, not ps's lifetime average: top's second sample.
        sample = subprocess.run(
            ["top", "-b", "-n", "2", "-d", "1", "-w", "200"], capture_output=True, text=True
        )
        rows = sample.stdout.split("PID USER")[-1].splitlines()[1:]
        busiest = [" ".join(row.split()[i] for i in (0, 8, 11)) for row in rows[:4] if len(row.split()) > 11]
        busiest = [row for row in busiest if not row.startswith(f"{os.getpid()} ")][:3]
        log(f"warning: the machine is already busy ({percent}% of a core): {'; '.join(busiest)}")
    return percent
