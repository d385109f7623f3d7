"""The queue's depth as the worker reports it: jobs by state, and how long the oldest due one waits."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.jobs.metrics import STATES, QueueDepth
from purpose_agent.jobs.queue import INGESTION_QUEUE, defer
from tests.metrics import recorded

TASK = "knowledge.ingest_document"
BACKDATE = text(
    "UPDATE procrastinate_events SET at = now() - make_interval(secs => :waited) WHERE job_id = :id"
)
SCHEDULE = text(
    "UPDATE procrastinate_jobs SET scheduled_at = now() + make_interval(secs => :due) WHERE id = :id"
)


async def queued(session: AsyncSession, *, waited_seconds: int, due_in_seconds: int | None = None) -> int:
    """A job deferred `waited_seconds` ago (and scheduled `due_in_seconds` from now, if given), in the
    test's transaction."""
    job_id = await defer(session, TASK, queue=INGESTION_QUEUE, args={"document_id": "x"})
    await session.execute(BACKDATE, {"waited": waited_seconds, "id": job_id})
    if due_in_seconds is not None:
        await session.execute(SCHEDULE, {"due": due_in_seconds, "id": job_id})
    return job_id


async def test_the_depth_counts_every_state_and_the_oldest_due_job_s_wait(
    session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await queued(session, waited_seconds=30)
    await queued(session, waited_seconds=300)
    # Waiting longer still, but not due before its retry's backoff ends: it is not late yet.
    await queued(session, waited_seconds=900, due_in_seconds=60)
    await session.flush()

    await QueueDepth(test_sessionmaker).refresh()

    assert recorded("purpose_agent_jobs", state="todo") >= 3
    states = {state: REGISTRY.get_sample_value("purpose_agent_jobs", {"state": state}) for state in STATES}
    assert None not in states.values(), "every state is reported, those without any job as 0"
    assert recorded("purpose_agent_oldest_queued_job_age_seconds") == pytest.approx(300, abs=5)


async def test_an_empty_queue_has_waited_for_nothing(
    session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await session.execute(text("DELETE FROM procrastinate_jobs WHERE status = 'todo'"))
    await QueueDepth(test_sessionmaker).refresh()
    assert recorded("purpose_agent_jobs", state="todo") == 0
    assert recorded("purpose_agent_oldest_queued_job_age_seconds") == 0
