"""Authentication and authorisation failures, as problems."""

from __future__ import annotations

from typing import Any

from purpose_agent.kit.problems import Conflict, NotFound, ProblemError


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
