"""Expected failures of chat, as problems. A session of another principal is "not found", never "forbidden":
its existence is not revealed."""

from __future__ import annotations

from purpose_agent.chat.schemas import Failover
from purpose_agent.kit.problems import Conflict, NotFound, ServiceUnavailable
from purpose_agent.llm.errors import Attempt, FailureReason

BUSY_RETRY_AFTER = "2"
FAILED_RETRY_AFTER = "10"


class AgentNotFound(NotFound):
    title = "Agent not found"
    slug = "agent-not-found"


class SessionNotFound(NotFound):
    title = "Session not found"
    slug = "session-not-found"


class SessionExpired(NotFound):
    title = "Session expired"
    slug = "session-expired"


class SessionAgentMismatch(Conflict):
    title = "Session belongs to another agent"
    slug = "session-agent-mismatch"


class NoModelAnswered(ServiceUnavailable):
    title = "No language model answered"
    slug = "no-model-answered"

    @classmethod
    def of(cls, attempts: list[Attempt]) -> NoModelAnswered:
        listed = [Failover.of(attempt).model_dump() for attempt in attempts]
        summary = (
            "; ".join(f"{a.provider}: {a.reason.value}" for a in attempts) or "no provider is configured"
        )
        problem = cls(f"Every provider of the chain failed ({summary}).", attempts=listed)
        # A full local queue clears in about a generation; a broken provider takes longer.
        busy = any(attempt.reason is FailureReason.busy for attempt in attempts)
        problem.headers["Retry-After"] = BUSY_RETRY_AFTER if busy else FAILED_RETRY_AFTER
        return problem
