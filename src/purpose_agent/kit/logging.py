"""JSON logs: one object per line, every record (ours and the libraries') through one redactor.

structlog loggers and standard-library loggers (uvicorn, SQLAlchemy, Alembic) end in the same
`ProcessorFormatter`, so each sink attached to the root logger gets the same fields and the same
redaction. A new sink is a new handler with `build_formatter(...)`; it never bypasses redaction.
Remote sinks (`kit.log_shipping`) get the JSON lines; stdout may instead get readable console lines
(a developer's terminal), redacted the same way.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import MutableMapping, Sequence
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import Processor

from purpose_agent.kit.log_shipping import LogSink, ShippingHandler
from purpose_agent.kit.redaction import Redactor
from purpose_agent.kit.tracing import add_trace_ids


def _json_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _static_fields(service: str, version: str) -> Processor:
    def add(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        event_dict.setdefault("version", version)
        return event_dict

    return add


def _shared_processors(service: str, version: str, trace_ids: bool) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _static_fields(service, version),
        *([add_trace_ids] if trace_ids else []),
    ]


def build_formatter(
    *,
    service: str,
    version: str,
    redactor: Redactor,
    console: bool = False,
    colors: bool = False,
    trace_ids: bool = False,
) -> logging.Formatter:
    """The formatter every sink uses: shared fields, exception text, redaction, then JSON (or, with
    `console`, one readable line)."""
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=colors)
        if console
        else structlog.processors.JSONRenderer(serializer=_json_dumps)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(service, version, trace_ids),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last before rendering, so that exception text and every bound field are covered.
            redactor,
            renderer,
        ],
    )


def configure_logging(
    *,
    level: str,
    service: str,
    version: str,
    redactor: Redactor,
    stream: TextIO | None = None,
    console: bool = False,
    sinks: Sequence[LogSink] = (),
    sink_queue_lines: int = 10_000,
    trace_ids: bool = False,
) -> None:
    """Send every log record of this process, redacted, to `stream` (stdout by default) as JSON lines
    (`console`: readable lines) and to each of `sinks` as JSON lines, without waiting for them.

    `trace_ids`: lines logged inside a sampled span carry its trace_id and span_id. The sinks of an
    earlier call are closed (what they hold is sent first, for a few seconds at most)."""
    out = stream or sys.stdout
    formatter = functools.partial(
        build_formatter, service=service, version=version, redactor=redactor, trace_ids=trace_ids
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(console=console, colors=console and out.isatty()))
    shippers = [ShippingHandler(sink, formatter(), queue_lines=sink_queue_lines) for sink in sinks]

    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
        if isinstance(existing, ShippingHandler):  # its thread stops; a stream handler's stream stays open
            existing.close()
    for added in (handler, *shippers):
        root.addHandler(added)
    root.setLevel(level)
    # Our access line replaces uvicorn's; its error logger keeps going through the root handler.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces each of its plugins at INFO; the migrations it runs stay visible.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True

    structlog.configure(
        processors=[
            *_shared_processors(service, version, trace_ids),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
