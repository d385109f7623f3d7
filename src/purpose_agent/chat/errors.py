"""Expected failures of chat, as problems. A session of another principal is "not found", never "forbidden":
its existence is not revealed."""

from __future__ import annotations

from purpose_agent.kit.problems import Conflict, NotFound, ServiceUnavailable
from purpose_agent.llm.errors import Attempt


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
        listed = [
            {
                "provider": attempt.provider,
                "model": attempt.model,
                "reason": attempt.reason.value,
                "detail": attempt.detail,
                "status": attempt.status,
                "latency_ms": attempt.latency_ms,
            }
            for attempt in attempts
        ]
        summary = (
            "; ".join(f"{a.provider}: {a.reason.value}" for a in attempts) or "no provider is configured"
        )
        return cls(f"Every provider of the chain failed ({summary}).", attempts=listed)
