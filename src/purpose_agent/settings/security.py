"""Who may call the API: signed tokens, failed sign-ins, browser origins, HTTPS, the audit log's age."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from purpose_agent.settings.fields import OptionalSecret, OptionalText, group_config, listed

# The placeholder `.env.example` shows: a copied example must never sign production tokens.
EXAMPLE_JWT_SECRET = "change-me-to-a-random-secret-of-at-least-32-bytes"


def jwt_secret_problem(secret: str) -> str | None:
    """Why this JWT_SECRET must not sign production tokens (None: nothing found); at start and at
    each rotation."""
    if not secret:
        return "JWT_SECRET is not set"
    if secret == EXAMPLE_JWT_SECRET:
        return "JWT_SECRET is the example value from .env.example"
    if len(secret.encode()) < 32:
        return "JWT_SECRET is shorter than 32 bytes"
    return None


class JwtAlgorithm(StrEnum):
    hs256 = "HS256"
    rs256 = "RS256"
    es256 = "ES256"


class SecuritySettings(BaseModel):
    """Security"""

    model_config = group_config()

    jwt_algorithm: JwtAlgorithm = JwtAlgorithm.hs256
    """Tokens for signed-in users (POST /api/auth/token). HS256 signs with JWT_SECRET (32 bytes or more;
    empty in development: one is generated into DATA_DIR/secrets on first start). RS256/ES256 verify
    with JWT_PUBLIC_KEY (PEM) or JWT_JWKS_URL and sign with JWT_PRIVATE_KEY (PEM) where tokens are issued.
    APP_ENV=production refuses to start with this example secret, a short one, or none."""
    jwt_secret: Annotated[OptionalSecret, Field(examples=[EXAMPLE_JWT_SECRET])] = None
    jwt_private_key: OptionalSecret = None
    jwt_public_key: OptionalText = None
    jwt_jwks_url: OptionalText = None
    jwt_issuer: str = "purpose-agent"
    jwt_audience: str = "purpose-agent"
    jwt_ttl_seconds: Annotated[int, Field(ge=60, le=86_400)] = 900
    """Lifetime of an issued token, and the clock skew tolerated when checking exp and nbf."""
    jwt_leeway_seconds: Annotated[int, Field(ge=0, le=300)] = 30
    login_failures_per_username: str = "5/15minutes"
    """Failed sign-ins allowed before 429, per username and per client address."""
    login_failures_per_address: str = "20/15minutes"
    cors_allowed_origins: str = ""
    """Browser origins allowed to call the API, comma-separated (e.g. https://app.example.com); others
    get no CORS headers."""
    https_redirect: bool = False
    """Redirect plain HTTP (except to localhost) to HTTPS, with 308."""
    auth_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
    """Seconds an API process reuses a live key's or user's lookup. Changes made anywhere are announced
    through PostgreSQL and dropped at once; this bounds staleness while a process cannot listen."""
    audit_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    """The worker deletes audit entries older than this many days (1-3650), every hour."""

    @field_validator("login_failures_per_username", "login_failures_per_address")
    @classmethod
    def _limit_syntax(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a limit like '5/15minutes'") from None
        return value

    @property
    def cors_origins(self) -> list[str]:
        return listed(self.cors_allowed_origins)
