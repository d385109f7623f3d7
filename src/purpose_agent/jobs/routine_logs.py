"""Keep an idle worker quiet: procrastinate's lines about routine maintenance become DEBUG.

Left alone, procrastinate logs three INFO lines for every run of a periodic task (deferred, started,
succeeded), so an idle worker printed three lines every 15 seconds for the stalled-job check, and
announced its periodic tasks twice at start. Those lines are lowered to DEBUG (shown with
LOG_LEVEL=DEBUG). A maintenance job's failure, and every line about other jobs (ingestion), keep
their level.
"""

from __future__ import annotations

import logging
from typing import Final

from purpose_agent.jobs.queue import MAINTENANCE_QUEUE

# procrastinate's `action` of each line; those below say a maintenance job went as planned.
_ROUTINE_JOB_ACTIONS: Final = frozenset({"periodic_task_deferred", "start_job", "job_success"})
_STARTUP_ACTIONS: Final = frozenset({"registering_periodic_task", "loading_blueprint"})
_LOGGERS: Final = (
    "procrastinate.periodic",
    "procrastinate.blueprints",
    "procrastinate.worker",
    "procrastinate.worker.worker",
)


class _RoutineToDebug(logging.Filter):
    """Lowers routine lines to DEBUG, and drops them where DEBUG is not shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not _routine(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _routine(record: logging.LogRecord) -> bool:
    action = getattr(record, "action", None)
    if action in _STARTUP_ACTIONS:
        return True
    job = getattr(record, "job", None)
    return action in _ROUTINE_JOB_ACTIONS and isinstance(job, dict) and job.get("queue") == MAINTENANCE_QUEUE


def quiet_routine_job_logs() -> None:
    """Lower procrastinate's routine maintenance lines to DEBUG in this process (once is enough)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _RoutineToDebug) for existing in logger.filters):
            logger.addFilter(_RoutineToDebug())
