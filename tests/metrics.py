"""Metrics as Prometheus reads them: the text of a scrape, and its samples looked up by name and labels.

Every test of one process shares the metrics (they are the process's), so a test compares a scrape
taken before what it does with one taken after.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from httpx import AsyncClient, Response
from prometheus_client import REGISTRY
from prometheus_client.samples import Sample

METRICS_PATH = "/metrics"
# One sample line of the text format (`name{label="value",…} value`) and one label in it. Read here
# in one linear pass: prometheus-client's own parser, which also reads OpenMetrics exemplars, once
# spun for minutes on a scrape of the whole suite's process.
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


class Scrape:
    """The samples of one scrape."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Family names as Prometheus' client library names them: a counter's without `_total`.
        self.families = {_family(line) for line in text.splitlines() if line.startswith("# TYPE ")}
        self._samples = [_sample(line) for line in text.splitlines() if line and not line.startswith("#")]

    def samples(self, name: str, **labels: str) -> Iterator[Sample]:
        """The samples called `name` whose labels include `labels`."""
        for sample in self._samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                yield sample

    def value(self, name: str, **labels: str) -> float:
        """The sum of the matching samples; 0 when there are none."""
        return sum(sample.value for sample in self.samples(name, **labels))

    def has(self, name: str, **labels: str) -> bool:
        return any(True for _ in self.samples(name, **labels))

    def label_values(self, name: str, label: str) -> set[str]:
        return {sample.labels[label] for sample in self.samples(name) if label in sample.labels}


def _family(type_line: str) -> str:
    _, _, name, kind = type_line.split(" ", 3)
    return name.removesuffix("_total") if kind == "counter" else name


def _sample(line: str) -> Sample:
    found = _SAMPLE.match(line)
    assert found is not None, f"not a sample line: {line!r}"
    name, labels, value = found.groups()
    pairs = _LABEL.findall(labels or "")
    unescaped = {key: re.sub(r"\\\\|\\\"|\\n", lambda m: _ESCAPES[m.group()], raw) for key, raw in pairs}
    return Sample(name, unescaped, float(value))


def scraped(response: Response) -> Scrape:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def scrape(client: AsyncClient) -> Scrape:
    """GET /metrics as a client on this machine (the test client's address is 127.0.0.1)."""
    return scraped(await client.get(METRICS_PATH))


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    """How much the matching samples grew between two scrapes."""
    return after.value(name, **labels) - before.value(name, **labels)


def recorded(name: str, **labels: str) -> float:
    """A sample of this process's own registry (0 when absent): for what no scrape of the API shows,
    the worker's families, recorded here by a test that runs the worker's code in-process."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
