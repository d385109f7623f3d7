"""The text a Prometheus scrape gets: this process's metrics, or every API process's together.

One process: the default registry, with the standard process and Python collectors.

Several API processes (API_WORKERS > 1, `serve` sets PROMETHEUS_MULTIPROC_DIR and empties it at
each start): prometheus-client keeps each process's values in files of that directory, and the
process that answers a scrape reads them all, so every scrape sees the sum whichever process
answers it. A process that ended still counts in the counters and histograms (a counter never goes
back); its live-only gauges (in-flight requests) are dropped when it stops (`forget_process`) and,
for a process that was killed, at the next scrape. The `process_*` metrics come per live process,
with a `pid` label, read from /proc; `python_gc_*` cannot be read from outside a process and is left
out then.

Each kind of process shows only its own families (`kit.metrics`: API_FAMILIES, WORKER_FAMILIES).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
STANDARD_PREFIXES = ("process_", "python_")


class MetricsExposition:
    """Renders the families a process shows; from `multiprocess_dir` when several processes share it."""

    def __init__(self, families: frozenset[str], multiprocess_dir: Path | None = None) -> None:
        self.families = families
        self.multiprocess_dir = multiprocess_dir

    def render(self) -> bytes:
        """The exposition in Prometheus' text format."""
        source: Collector = REGISTRY
        if self.multiprocess_dir is not None:
            forget_dead_processes(self.multiprocess_dir)
            source = _every_process(self.multiprocess_dir)
        return generate_latest(_Only(source, self.families))

    def forget_process(self, pid: int) -> None:
        """Drop the live-only gauges of a process that is stopping (multiprocess mode only)."""
        if self.multiprocess_dir is not None:
            _mark_dead(pid, self.multiprocess_dir)


def prepare_multiprocess_dir(path: Path) -> None:
    """Create the directory, or empty it of a previous run's files (a new run starts from zero)."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def recorded_pids(path: Path) -> set[int]:
    """The processes that have written values into the directory (files are named `kind_..._<pid>.db`)."""
    pids = set()
    for file in path.glob("*.db"):
        suffix = file.stem.rpartition("_")[2]
        if suffix.isdigit():
            pids.add(int(suffix))
    return pids


def forget_dead_processes(path: Path) -> None:
    """Mark every process of the directory that no longer runs as dead."""
    for pid in recorded_pids(path):
        if not _alive(pid):
            _mark_dead(pid, path)


def _mark_dead(pid: int, path: Path) -> None:
    mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]  # the library leaves it unannotated


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: it runs
        return True
    return True


def _every_process(path: Path) -> CollectorRegistry:
    # A registry per scrape, as prometheus-client's multiprocess mode asks: it reads the files afresh.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]  # unannotated
    registry.register(_ProcessesOf(path))
    PlatformCollector(registry=registry)
    return registry


class _ProcessesOf(Collector):
    """`process_*` of every live process of a multiprocess directory, labelled by pid."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for pid in sorted(pid for pid in recorded_pids(self.path) if _alive(pid)):
            for family in _process_collector(pid).collect():
                target = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type, family.unit)
                )
                target.samples += [
                    sample._replace(labels={**sample.labels, "pid": str(pid)}) for sample in family.samples
                ]
        return merged.values()


def _process_collector(pid: int) -> ProcessCollector:
    return ProcessCollector(pid=lambda: pid, registry=None)


class _Only(Collector):
    """The families of `source` that a process shows, and the standard ones."""

    def __init__(self, source: Collector, families: frozenset[str]) -> None:
        self.source = source
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.source.collect():
            if family.name in self.families or family.name.startswith(STANDARD_PREFIXES):
                yield family
