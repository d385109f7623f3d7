"""Authentication and authorisation failures, as problems."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from purpose_agent.kit.problems import Conflict, NotFound, Problem, ProblemError


class Unauthenticated(ProblemError):
    status = 401
    title = "Unauthorized"
    slug = "unauthenticated"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers["WWW-Authenticate"] = 'Bearer realm="purpose-agent"'


class Forbidden(ProblemError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class TooManyAttempts(ProblemError):
    status = 429
    title = "Too many failed sign-ins"
    slug = "login-throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed sign-ins; try again in {retry_after} seconds.")
        self.headers["Retry-After"] = str(retry_after)


class UserExists(Conflict):
    title = "User already exists"
    slug = "user-exists"


class UserNotFound(NotFound):
    title = "User not found"
    slug = "user-not-found"


class KeyNotFound(NotFound):
    title = "API key not found"
    slug = "key-not-found"


class PasswordRejected(ProblemError):
    status = 422
    title = "Password rejected"
    slug = "weak-password"


class TokensNotIssued(ProblemError):
    status = 501
    title = "Tokens are not issued here"
    slug = "tokens-not-issued"


class ScopeProblem(Problem):
    """A 403 for an agent, operation or category outside the caller's scope: the one it names."""

    agent: str | None = Field(default=None, description="The agent refused.")
    operation: str | None = Field(default=None, description="The operation refused.")
    allowed_operations: list[str] | None = Field(default=None, description="Those the scope allows.")
    category: str | None = Field(default=None, description="The knowledge category refused.")
    allowed_categories: list[str] | None = Field(default=None, description="The scope's agents' categories.")


class OutOfScope(Forbidden):
    """The principal's role allows the route, but its scope does not cover this agent or operation."""

    title = "Outside the credentials' scope"
    slug = "out-of-scope"
    schema = ScopeProblem


class UnknownAgentsProblem(Problem):
    unknown_agents: list[str] = Field(description="The agents named that do not exist.")


class UnknownAgents(ProblemError):
    status = 422
    title = "Unknown agent in the scope"
    slug = "unknown-agents"
    schema = UnknownAgentsProblem


class InvalidPeriod(ProblemError):
    status = 422
    title = "Invalid period"
    slug = "invalid-period"


class LimitProblem(Problem):
    """A 429: a key's quota used up (quota, limit, used, reset), or a rate limit (limit as text,
    applies, retry_after); `Retry-After` holds the seconds to wait either way."""

    quota: str | None = Field(
        default=None, description="requests_per_day, tokens_per_day, cost_per_month_usd."
    )
    limit: float | str | None = Field(
        default=None,
        description="The quota (US dollars for the cost), or the rate limit ('20 per 1 minute').",
    )
    used: float | None = Field(default=None, description="What the key used in the quota's current period.")
    reset: str | None = Field(
        default=None,
        description="When the quota's period ends and the key is admitted again (UTC, ISO 8601).",
    )
    applies: str | None = Field(default=None, description="What a rate limit counts: an address, a key.")
    retry_after: int | None = Field(default=None, description="A rate limit's seconds to wait.")


class QuotaExceeded(ProblemError):
    """A key's quota is used up until `reset`: the problem names the quota, its limit and the reset."""

    status = 429
    title = "Quota exceeded"
    slug = "quota-exceeded"
    schema = LimitProblem

    def __init__(self, quota: str, limit: float, used: float, reset: datetime, now: datetime) -> None:
        wait = max(1, math.ceil((reset - now).total_seconds()))
        at = reset.astimezone(UTC).isoformat().replace("+00:00", "Z")  # as the API's datetimes are shown
        super().__init__(
            f"This API key's quota {quota} of {limit:g} is used up ({used:g} used); it resets at {at}.",
            quota=quota,
            limit=limit,
            used=used,
            reset=at,
        )
        self.headers["Retry-After"] = str(wait)
