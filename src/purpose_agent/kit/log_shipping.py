"""Log lines to a remote sink without ever making the logging code wait for it.

`ShippingHandler` formats each record where it is logged (through the same redacting formatter as
stdout, so a sink only ever sees redacted lines), puts the line on a bounded queue and returns. One
background thread per sink takes lines off in batches and hands them to the sink's `send`. When the
sink is down or slow the queue fills and new lines are dropped; a batch the sink refuses is dropped
too. Each dropped line is counted in `purpose_agent_log_lines_dropped_total{sink}`; stdout, a
handler of its own, keeps every line.

Records logged on a shipping thread (the sink's own failures, its HTTP library's lines) go to stdout
only: shipped, they could feed a loop between two sinks that are both down.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Final, Protocol

import structlog
from prometheus_client import Counter

__all__ = ["LOG_LINES_DROPPED", "LogSink", "ShippingHandler"]

LOG_LINES_DROPPED: Final = Counter(
    "purpose_agent_log_lines_dropped_total",
    "Log lines a sink (seq, otlp) did not get: its queue was full, or it refused or missed their batch.",
    ["sink"],
)

# Set on the shipping threads; read wherever a record is logged.
_on_shipping_thread: Final = threading.local()
_log: Final = structlog.get_logger("purpose_agent.log_shipping")
# At a stop, queued lines get this long to leave (a sink that is down is not waited for).
_CLOSE_SECONDS: Final = 5.0


class LogSink(Protocol):
    """Where shipped lines go: `send` takes a batch of JSON lines and raises when it was not delivered."""

    name: str

    def send(self, lines: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class ShippingHandler(logging.Handler):
    """A logging handler that queues formatted lines for one sink, drained by a thread of its own."""

    def __init__(
        self,
        sink: LogSink,
        formatter: logging.Formatter,
        *,
        queue_lines: int = 10_000,
        batch_lines: int = 500,
        flush_seconds: float = 0.5,
    ) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.sink = sink
        self._queue: queue.Queue[str] = queue.Queue(maxsize=queue_lines)
        self._batch_lines = batch_lines
        self._flush_seconds = flush_seconds
        self._stopping = threading.Event()
        self._dropped = LOG_LINES_DROPPED.labels(sink=sink.name)
        self._failing = False
        self._thread = threading.Thread(target=self._drain, name=f"log-sink-{sink.name}", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_on_shipping_thread, "active", False):
            return
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self._dropped.inc()

    def close(self) -> None:
        """Send what is queued (unless the sink is failing, and for a few seconds at most), then stop."""
        self._stopping.set()
        self._thread.join(timeout=_CLOSE_SECONDS)
        left = self._queue.qsize()
        if left:
            self._dropped.inc(left)
        self.sink.close()
        super().close()

    def _drain(self) -> None:
        _on_shipping_thread.active = True
        while not self._stopping.is_set() or (not self._failing and not self._queue.empty()):
            batch = self._next_batch()
            if batch:
                self._ship(batch)

    def _next_batch(self) -> list[str]:
        """Lines for one send: as many as are queued, up to a batch, waiting at most `flush_seconds`."""
        batch: list[str] = []
        deadline = time.monotonic() + self._flush_seconds
        while len(batch) < self._batch_lines:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(line)
        return batch

    def _ship(self, batch: list[str]) -> None:
        try:
            self.sink.send(batch)
        except Exception as exc:
            self._dropped.inc(len(batch))
            if not self._failing:  # said once per outage, on stdout only
                self._failing = True
                _log.warning("log_sink_failing", sink=self.sink.name, error=repr(exc))
            return
        if self._failing:
            self._failing = False
            _log.warning("log_sink_recovered", sink=self.sink.name)
