"""JSON Web Tokens: issued to users who sign in, and verified on every request that carries one.

Verification accepts exactly one algorithm, the configured one, so a token cannot choose how it is
checked: `alg: none` and the classic confusion (an HS256 token "signed" with the RS256 public key
as its secret) are refused because their algorithm is not the configured one. `exp`, `nbf`,
`iat`, `iss` and `aud` are required and checked, with a small leeway for clock skew. Every failure
is the same "invalid token" to the caller: which check failed is logged, never returned.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import structlog

log = structlog.get_logger("purpose_agent.auth")

REQUIRED_CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "sub"]


class InvalidToken(Exception):
    """The token is malformed, expired, not yet valid, wrongly signed, or for another audience."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        # Only for the metrics: the caller is told the same either way.
        self.expired = expired


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    algorithm: str
    issuer: str
    audience: str
    ttl_seconds: int = 900
    leeway_seconds: int = 30
    # HS256: the shared secret. RS256/ES256: the PEM private key, where tokens are issued.
    signing_key: str | None = None
    # HS256: the shared secret. RS256/ES256: the PEM public key (None with a JWKS URL).
    verifying_key: str | None = None
    jwks_url: str | None = None

    @property
    def can_issue(self) -> bool:
        return self.signing_key is not None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    role: str | None
    name: str | None
    issuer: str


# A JWKS endpoint that hangs costs a token check this long (then a 401), not PyJWT's default 30 s.
JWKS_TIMEOUT_SECONDS = 5.0


class TokenService:
    """Issues and verifies tokens under one policy; the JWKS client (if any) caches its keys."""

    def __init__(self, policy: TokenPolicy) -> None:
        self.policy = policy
        self._jwks = (
            jwt.PyJWKClient(policy.jwks_url, cache_keys=True, timeout=JWKS_TIMEOUT_SECONDS)
            if policy.jwks_url
            else None
        )

    def issue(self, *, subject: str, role: str, name: str, now: datetime) -> IssuedToken:
        """A signed token for `subject`, valid from now for the policy's lifetime."""
        if self.policy.signing_key is None:
            raise RuntimeError("this service has no signing key")
        claims = {
            "sub": subject,
            "role": role,
            "name": name,
            "iss": self.policy.issuer,
            "aud": self.policy.audience,
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=self.policy.ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self.policy.signing_key, algorithm=self.policy.algorithm)
        return IssuedToken(token, self.policy.ttl_seconds)

    async def verify(self, token: str) -> TokenClaims:
        """The claims of a valid token; `InvalidToken` for anything else."""
        try:
            key: Any = self.policy.verifying_key
            if self._jwks is not None:
                # A network call on the first use of a key id, then cached: off the event loop.
                key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.policy.algorithm],
                audience=self.policy.audience,
                issuer=self.policy.issuer,
                leeway=self.policy.leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            log.info("token_refused", reason=type(exc).__name__)
            raise InvalidToken(str(exc), expired=isinstance(exc, jwt.ExpiredSignatureError)) from None
        role = claims.get("role")
        name = claims.get("name")
        return TokenClaims(
            subject=str(claims["sub"]),
            role=role if isinstance(role, str) else None,
            name=name if isinstance(name, str) else None,
            issuer=str(claims["iss"]),
        )


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and not value.startswith("pa_")
