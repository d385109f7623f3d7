"""Expected failures of the MCP transport, as problems (DNS-rebinding protection)."""

from __future__ import annotations

from purpose_agent.kit.problems import ProblemError


class HostNotAllowed(ProblemError):
    status = 421
    title = "Host not allowed"
    slug = "mcp-host-not-allowed"


class OriginNotAllowed(ProblemError):
    status = 403
    title = "Origin not allowed"
    slug = "mcp-origin-not-allowed"


class RateLimited(ProblemError):
    status = 429
    title = "Rate limited"
    slug = "rate-limited"
