"""JSON logs: one object per line, every record (ours and the libraries') through one redactor.

structlog loggers and standard-library loggers (uvicorn, SQLAlchemy, Alembic) end in the same
`ProcessorFormatter`, so each sink attached to the root logger gets the same fields and the same
redaction. A new sink is a new handler with `build_formatter(...)`; it never bypasses redaction.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import Processor

from purpose_agent.kit.redaction import Redactor


def _json_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _static_fields(service: str, version: str) -> Processor:
    def add(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        event_dict.setdefault("version", version)
        return event_dict

    return add


def _shared_processors(service: str, version: str) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _static_fields(service, version),
    ]


def build_formatter(*, service: str, version: str, redactor: Redactor) -> logging.Formatter:
    """The formatter every sink uses: shared fields, exception text, redaction, then JSON."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(service, version),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last before rendering, so that exception text and every bound field are covered.
            redactor,
            structlog.processors.JSONRenderer(serializer=_json_dumps),
        ],
    )


def configure_logging(
    *,
    level: str,
    service: str,
    version: str,
    redactor: Redactor,
    stream: TextIO | None = None,
) -> None:
    """Send every log record of this process as redacted JSON lines to `stream` (stdout by default)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(build_formatter(service=service, version=version, redactor=redactor))

    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
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
            *_shared_processors(service, version),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
