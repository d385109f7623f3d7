"""Several processes, one scrape: prometheus-client's multiprocess directory, read by any of them.

Each writer here is a real Python process that records into the directory, as an API worker
process does; the scrape is rendered by this one, as by whichever API process Prometheus reaches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from purpose_agent.kit.metrics import API_FAMILIES
from purpose_agent.kit.metrics_exposition import MetricsExposition, prepare_multiprocess_dir, recorded_pids
from tests.metrics import Scrape

WRITER = """
import sys, time
from purpose_agent.kit.metrics import HTTP_IN_FLIGHT, HTTP_REQUESTS, LLM_BREAKER_STATE, publish_build_info
HTTP_REQUESTS.labels("/api/chat", "POST", "200").inc(int(sys.argv[1]))
HTTP_IN_FLIGHT.inc()
LLM_BREAKER_STATE.labels("openai").set(float(sys.argv[2]))
publish_build_info("9.9.9")
print("recorded", flush=True)
sys.stdin.readline()  # until the test says so
"""

Writers = list[subprocess.Popen[str]]


@pytest.fixture
def writers() -> Iterator[Writers]:
    started: Writers = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def record(writers: Writers, directory: Path, requests: int, breaker: float) -> subprocess.Popen[str]:
    """A process that records into `directory`, then waits for a line on its stdin before it ends."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(requests), str(breaker)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    writers.append(process)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "recorded"
    return process


def end(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.wait(timeout=30) == 0


def test_a_scrape_sums_every_process_and_forgets_the_live_gauges_of_dead_ones(
    tmp_path: Path, writers: Writers
) -> None:
    directory = tmp_path / "metrics"
    (directory).mkdir()
    (directory / "counter_999999.db").write_bytes(b"left by a previous run")
    prepare_multiprocess_dir(directory)
    assert list(directory.iterdir()) == [], "a new run starts from zero"

    first = record(writers, directory, requests=3, breaker=2)
    second = record(writers, directory, requests=4, breaker=0)
    exposition = MetricsExposition(API_FAMILIES, directory)

    both = Scrape(exposition.render().decode())
    assert both.value("purpose_agent_http_requests_total", route="/api/chat") == 7
    assert both.value("purpose_agent_http_requests_in_flight") == 2
    assert both.value("purpose_agent_llm_breaker_state", provider="openai") == 0, "the most recent"
    assert both.value("purpose_agent_build_info", version="9.9.9") == 1
    assert both.label_values("process_start_time_seconds", "pid") == {str(first.pid), str(second.pid)}

    end(first)  # stops without a word: the next scrape finds it gone
    one = Scrape(exposition.render().decode())
    assert one.value("purpose_agent_http_requests_total", route="/api/chat") == 7, "a counter never goes back"
    assert one.value("purpose_agent_http_requests_in_flight") == 1
    assert one.label_values("process_start_time_seconds", "pid") == {str(second.pid)}
    assert first.pid in recorded_pids(directory), "its counters stay"

    second.send_signal(signal.SIGKILL)
    second.wait(timeout=10)
    exposition.forget_process(second.pid)
    none = Scrape(exposition.render().decode())
    assert none.value("purpose_agent_http_requests_in_flight") == 0
    assert none.value("purpose_agent_http_requests_total", route="/api/chat") == 7
