"""Log sinks besides stdout: Seq (CLEF over HTTP) and OTLP logs, fed redacted lines without ever
making a request wait, their losses counted when they are down."""

from __future__ import annotations

import io
import logging
import statistics
import time
from collections.abc import Iterator, Sequence

import pytest
import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY

from purpose_agent import __version__
from purpose_agent.kit.log_shipping import LogSink
from purpose_agent.kit.logging import configure_logging
from purpose_agent.kit.otlp_log_sink import OtlpLogSink
from purpose_agent.kit.redaction import Redactor
from purpose_agent.kit.seq_sink import SeqSink
from tests.conftest import LogCapture, api_client
from tests.kit.fake_seq import FakeSeq
from tests.otlp_receiver import OtlpReceiver, ReceivedLog
from tests.ports import refused_url

EMAIL = "jane.doe@example.com"
API_KEY = "sk-proj-Abcdefghijklmnopqrstuvwx"
SEQ_KEY = "seq-ingest-key-0001"


def ship_logs_to(*sinks: LogSink, queue_lines: int = 10_000, trace_ids: bool = False) -> io.StringIO:
    """This process's logs to a buffer (standing for stdout) and to `sinks`, as the service sets them up."""
    stdout = io.StringIO()
    configure_logging(
        level="INFO",
        service="purpose-agent",
        version=__version__,
        redactor=Redactor(),
        stream=stdout,
        sinks=sinks,
        sink_queue_lines=queue_lines,
        trace_ids=trace_ids,
    )
    return stdout


@pytest.fixture(autouse=True)
def stdout_only_afterwards(logs: LogCapture) -> Iterator[None]:
    """Whatever a test ships to, the sinks are closed and logging is back to stdout when it ends."""
    yield
    ship_logs_to()


@pytest.fixture
def seq() -> Iterator[FakeSeq]:
    server = FakeSeq().start()
    yield server
    server.stop()


def dropped(sink: str) -> float:
    return REGISTRY.get_sample_value("purpose_agent_log_lines_dropped_total", {"sink": sink}) or 0.0


def test_seq_gets_batched_clef_with_its_api_key_and_nothing_the_redactor_would_hide(seq: FakeSeq) -> None:
    stdout = ship_logs_to(SeqSink(seq.url, SEQ_KEY))
    log = structlog.get_logger("purpose_agent.signup")
    for number in range(40):
        log.info("user_invited", number=number, invitee=EMAIL, note=f"created with {API_KEY}")
    try:
        raise ValueError(f"{EMAIL} was refused")
    except ValueError:
        logging.getLogger("some.library").exception("import {failed}")

    last = seq.wait_for_event("user_invited")
    seq.wait_for_event("import {{failed}}")
    assert last["@l"] == "Information"
    assert last["@t"].endswith("Z")
    assert last["invitee"] == "[EMAIL]"
    assert last["note"] == "created with [API_KEY]"
    assert (last["logger"], last["service"]) == ("purpose_agent.signup", "purpose-agent")

    batches = seq.batches
    assert len(batches) < 10, "lines are sent in batches, not one request each"
    for batch in batches:
        assert batch.path == "/api/events/raw?clef"
        assert batch.headers["Content-Type"] == "application/vnd.serilog.clef"
        assert batch.headers["X-Seq-ApiKey"] == SEQ_KEY
        assert EMAIL.encode() not in batch.raw
        assert API_KEY.encode() not in batch.raw
    events = seq.events()
    assert sorted(event["number"] for event in events if event["@mt"] == "user_invited") == list(range(40))
    [failure] = [event for event in events if event["@mt"] == "import {{failed}}"]
    assert failure["@l"] == "Error"
    assert "ValueError: [EMAIL] was refused" in failure["@x"]
    assert EMAIL not in stdout.getvalue(), "stdout is redacted as before"
    assert stdout.getvalue().count('"user_invited"') == 40


@pytest.mark.parametrize("failure", ["hanging", "refusing connections"])
async def test_a_seq_that_is_down_costs_requests_nothing_and_its_lost_lines_are_counted(
    app: FastAPI, failure: str
) -> None:
    async def request_seconds(count: int) -> list[float]:
        seconds = []
        async with api_client(app) as client:
            for _ in range(count):
                started = time.perf_counter()
                assert (await client.get("/health")).status_code == 200
                seconds.append(time.perf_counter() - started)
        return seconds

    ship_logs_to()
    await request_seconds(20)  # warm
    healthy = await request_seconds(50)

    hanging = FakeSeq(hang_seconds=30).start()
    url = hanging.url if failure == "hanging" else refused_url()
    before = dropped("seq")
    stdout = ship_logs_to(SeqSink(url, timeout_seconds=5), queue_lines=10)
    try:
        down = await request_seconds(50)
        access_lines = stdout.getvalue().count('"event":"request"')
        ship_logs_to()  # closes the sink: what it still holds is dropped, and counted, too
    finally:
        hanging.stop()

    assert max(down) < 1.0, "no request waits for the sink (its timeout is 5 s)"
    assert statistics.median(down) < statistics.median(healthy) + 0.02
    assert access_lines == 50, "stdout keeps every line"
    assert dropped("seq") - before >= 50 - 10, "all but what the queue could hold, at least"


def test_otlp_logs_carry_redacted_attributes_and_the_trace_of_their_line() -> None:
    receiver = OtlpReceiver().start()
    try:
        sink = OtlpLogSink(f"{receiver.endpoint}/v1/logs", service="purpose-agent-test", version=__version__)
        ship_logs_to(sink, trace_ids=True)
        sampled = SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        with trace.use_span(NonRecordingSpan(sampled)):
            structlog.get_logger("purpose_agent.signup").warning("user_invited", invitee=EMAIL, attempts=3)

        def invited() -> Sequence[ReceivedLog]:
            return [record for record in receiver.logs if record.body == "user_invited"]

        [record] = receiver.wait_for(invited)
    finally:
        ship_logs_to()
        receiver.stop()
    assert record.service == "purpose-agent-test"
    assert record.severity_text == "WARNING"
    assert record.attributes["invitee"] == "[EMAIL]"
    assert record.attributes["attempts"] == 3
    assert record.attributes["logger"] == "purpose_agent.signup"
    assert (record.trace_id, record.span_id) == (f"{0x1234:032x}", f"{0x5678:016x}")
    assert receiver.content_types == {"application/x-protobuf"}


def test_an_otlp_endpoint_that_is_down_loses_lines_to_the_count_only() -> None:
    before = dropped("otlp")
    stdout = ship_logs_to(
        OtlpLogSink(
            f"{refused_url()}/v1/logs", service="purpose-agent", version=__version__, timeout_seconds=1
        )
    )
    structlog.get_logger("purpose_agent.test").info("lost_in_transit")
    deadline = time.monotonic() + 15
    while dropped("otlp") == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert dropped("otlp") > before
    assert "lost_in_transit" in stdout.getvalue()
