"""Authentication and authorisation failures, as problems."""

from __future__ import annotations

from typing import Any

from purpose_agent.kit.problems import ProblemError


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
