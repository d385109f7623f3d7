"""Defer jobs inside the caller's transaction, and build the procrastinate app a worker runs.

procrastinate's own `defer_async` opens a connection of its own, so a job deferred that way would
exist even when the request that asked for it rolls back, and could run before the request's rows
are visible. We call its SQL function through the caller's SQLAlchemy session instead: the job row
is written in the same transaction as the document it is about, and procrastinate's insert trigger
notifies the workers only when that transaction commits.

The worker outlives its database (`worker_loop` says how): its LISTEN connection reconnects with
backoff, and a worker that the outage stopped anyway is started again once the database answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from procrastinate import App, Blueprint
from procrastinate.middleware import WorkerMiddleware
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.db.engine import DEAD_PEER_DETECTION
from purpose_agent.jobs.worker_loop import ReconnectingConnector, WorkerOptions, run_until_stopped

INGESTION_QUEUE = "ingestion"
MAINTENANCE_QUEUE = "maintenance"

_DEFER = text(
    "SELECT (procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock, :queueing_lock, "
    "CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1]))[1]"
)


def libpq_url(sqlalchemy_url: str) -> str:
    """The database URL as psycopg's pool takes it (without SQLAlchemy's driver suffix)."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


async def defer(
    session: AsyncSession,
    task: str,
    *,
    queue: str,
    args: dict[str, Any],
    lock: str | None = None,
    queueing_lock: str | None = None,
    priority: int = 0,
) -> int:
    """Add a job in the session's transaction; it becomes visible to workers at commit. Returns its id."""
    job_id = await session.scalar(
        _DEFER,
        {
            "queue": queue,
            "task": task,
            "priority": priority,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": orjson.dumps(args).decode(),
        },
    )
    assert job_id is not None
    return int(job_id)


def job_app(database_url: str, blueprints: Iterable[Blueprint] = (), *, pool_timeout: float = 30.0) -> App:
    """A procrastinate app on `database_url` with the given tasks; open it before use.

    `pool_timeout`: how long a query waits for a connection; past it, while the database is down, the
    worker's run ends and `run_worker` starts another once the database answers."""
    connector = ReconnectingConnector(
        conninfo=libpq_url(database_url),
        min_size=1,
        max_size=4,
        timeout=pool_timeout,
        kwargs=DEAD_PEER_DETECTION,
    )
    app = App(connector=connector)
    for blueprint in blueprints:
        app.add_tasks_from(blueprint, namespace="")
    return app


async def run_worker(
    app: App,
    *,
    concurrency: int,
    heartbeat_seconds: float,
    stalled_after_seconds: float,
    wait: bool = True,
    queues: Iterable[str] = (),
    middleware: Iterable[WorkerMiddleware] = (),
) -> None:
    """Run jobs until stopped (SIGINT/SIGTERM finish the running jobs first), or until none is left;
    `middleware` wraps every job (outermost first). With `wait`, a database outage pauses the worker
    instead of ending it."""
    options: WorkerOptions = {
        "concurrency": concurrency,
        "wait": wait,
        "update_heartbeat_interval": heartbeat_seconds,
        "stalled_worker_timeout": stalled_after_seconds,
        "worker_middleware": list(middleware),
    }
    if queues:  # none named: every queue
        options["queues"] = list(queues)
    await run_until_stopped(app, options)
