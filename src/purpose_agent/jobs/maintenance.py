"""Housekeeping the worker does on a schedule: run again the jobs of workers that died.

A worker sends a heartbeat every few seconds while it runs. When one is killed mid-job (OOM, a
node drained, `kill -9`), its job stays `doing` forever unless somebody notices: the classic
ingestion job "stuck in processing". Every worker schedules this check; procrastinate runs each
scheduled instance once, whichever worker takes it. The check finds `doing` jobs whose worker has
been silent longer than the stalled threshold and puts them back in the queue, where the next free
worker runs them again. Its own finished runs are deleted after a day so the job table stays small.
"""

from __future__ import annotations

import structlog
from procrastinate import Blueprint, JobContext
from procrastinate.builtin_tasks import remove_old_jobs

from purpose_agent.jobs.queue import MAINTENANCE_QUEUE
from purpose_agent.kit.metrics import JOBS_REQUEUED

log = structlog.get_logger("purpose_agent.jobs")

REQUEUE_STALLED_TASK = "jobs.requeue_stalled"
REMOVE_OLD_TASK = "jobs.remove_old_maintenance_runs"


def maintenance_blueprint(*, stalled_after_seconds: float, check_every_seconds: int) -> Blueprint:
    """The periodic tasks every worker schedules."""
    blueprint = Blueprint()

    @blueprint.periodic(cron=f"* * * * * */{check_every_seconds}")
    @blueprint.task(
        name=REQUEUE_STALLED_TASK,
        queue=MAINTENANCE_QUEUE,
        queueing_lock=REQUEUE_STALLED_TASK,
        pass_context=True,
    )
    async def requeue_stalled(context: JobContext, timestamp: int) -> int:
        manager = context.app.job_manager
        # Workers that stopped sending heartbeats are forgotten first, so that their jobs count as stalled.
        await manager.prune_stalled_workers(stalled_after_seconds)
        stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_seconds))
        for job in stalled:
            await manager.retry_job(job)
            JOBS_REQUEUED.inc()
            log.warning("job_requeued", job_id=job.id, task=job.task_name, reason="its worker stopped")
        return len(stalled)

    @blueprint.periodic(cron="17 * * * *")
    @blueprint.task(
        name=REMOVE_OLD_TASK, queue=MAINTENANCE_QUEUE, queueing_lock=REMOVE_OLD_TASK, pass_context=True
    )
    async def remove_old_maintenance_runs(context: JobContext, timestamp: int) -> None:
        await remove_old_jobs(context, max_hours=24, queue=MAINTENANCE_QUEUE)

    return blueprint
