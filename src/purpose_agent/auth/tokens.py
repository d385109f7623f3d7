"""JSON Web Tokens: issued to users who sign in, and verified on every request that carries one.

Verification accepts exactly one algorithm, the configured one, so a token cannot choose how it is
checked: `alg: none` and the classic confusion (an HS256 token "signed" with the RS256 public key
as its secret) are refused because their algorithm is not the configured one. `exp`, `nbf`,
`iat`, `iss` and `aud` are required and checked, with a small leeway for clock skew. Every failure
is the same "invalid token" to the caller: which check failed is logged, never returned.

Signing keys rotate without a restart (signing_keys.py): `rotate` makes a new key sign, and the
previous one keeps verifying until its tokens have expired. A token names its key in its `kid`
header; one without a `kid` (issued before keys had ids, or by hand) is tried under each accepted
key. A `kid` this process does not know may be a key another replica fetched first: the service
asks for the keys to be fetched again (`refresh_keys`, rate-limited by its owner), then looks again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import structlog

from purpose_agent.auth.signing_keys import KeyRing, SigningKey, signing_key

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
    # The keys at start (`TokenService.rotate` replaces them):
    # HS256: the shared secret. RS256/ES256: the PEM private key, where tokens are issued.
    signing_key: str | None = None
    # HS256: the shared secret. RS256/ES256: the PEM public key (None with a JWKS URL).
    verifying_key: str | None = None
    jwks_url: str | None = None
    # How long a replaced key is still accepted beyond the tokens' lifetime and leeway: the time other
    # replicas may take to fetch the new key, meanwhile still signing with the old one.
    rotation_margin_seconds: float = 0.0

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


KeysRefresh = Callable[[], Awaitable[None]]
# A JWKS endpoint that hangs costs a token check this long (then a 401), not PyJWT's default 30 s.
JWKS_TIMEOUT_SECONDS = 5.0


class TokenService:
    """Issues and verifies tokens under one policy; the JWKS client (if any) caches its keys."""

    def __init__(
        self,
        policy: TokenPolicy,
        *,
        refresh_keys: KeysRefresh | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._jwks = (
            jwt.PyJWKClient(policy.jwks_url, cache_keys=True, timeout=JWKS_TIMEOUT_SECONDS)
            if policy.jwks_url
            else None
        )
        self._ring: KeyRing | None = None
        if policy.signing_key is not None or policy.verifying_key is not None:
            self._ring = KeyRing(
                signing_key(policy.algorithm, signing=policy.signing_key, verifying=policy.verifying_key),
                keep_seconds=policy.ttl_seconds + policy.leeway_seconds + policy.rotation_margin_seconds,
                clock=clock,
            )
        self._refresh_keys = refresh_keys

    @property
    def current_kid(self) -> str | None:
        """The id of the key new tokens are signed with (None: keys come from a JWKS)."""
        return self._ring.current.kid if self._ring is not None else None

    def rotate(self, key: str) -> bool:
        """Sign new tokens with `key` (the secret, or the PEM private key), keeping the current one
        accepted until its tokens expire; False when it is the current key already. Raises ValueError
        (PyJWT's InvalidKeyError too) for a key of the wrong kind, and then nothing changes."""
        if self._ring is None or self._ring.current.signing is None:
            raise RuntimeError("this service issues no tokens, so it has no key to rotate")
        new = signing_key(self.policy.algorithm, signing=key, verifying=None)
        previous = self._ring.current.kid
        if not self._ring.rotate(new):
            return False
        log.info("token_signing_key_rotated", kid=new.kid, previous_kid=previous)
        return True

    def issue(self, *, subject: str, role: str, name: str, now: datetime) -> IssuedToken:
        """A signed token for `subject`, valid from now for the policy's lifetime."""
        key = self._ring.current if self._ring is not None else None
        if key is None or key.signing is None:
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
        token = jwt.encode(claims, key.signing, algorithm=self.policy.algorithm, headers={"kid": key.kid})
        return IssuedToken(token, self.policy.ttl_seconds)

    async def verify(self, token: str) -> TokenClaims:
        """The claims of a valid token; `InvalidToken` for anything else."""
        try:
            if self._jwks is not None:
                # A network call on the first use of a key id, then cached: off the event loop.
                key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
                claims = self._decode(token, key)
            else:
                claims = self._decode_under(token, await self._candidates(token))
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

    async def _candidates(self, token: str) -> list[SigningKey]:
        """The keys to check `token` under: the one its `kid` names, else every accepted key."""
        if self._ring is None:
            raise jwt.InvalidKeyError("no key to verify tokens with")
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str):
            return self._ring.accepted()
        if (known := self._ring.find(kid)) is not None:
            return [known]
        if self._refresh_keys is not None:
            await self._refresh_keys()
            if (known := self._ring.find(kid)) is not None:
                return [known]
        # Perhaps an identity provider's own id for the configured public key: every key, as without one.
        return self._ring.accepted()

    def _decode_under(self, token: str, keys: list[SigningKey]) -> dict[str, Any]:
        # The signature is checked before any claim: a wrong key fails here, the right one goes on.
        for key in keys[:-1]:
            try:
                return self._decode(token, key.verifying)
            except jwt.InvalidSignatureError:
                continue
        return self._decode(token, keys[-1].verifying)

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[self.policy.algorithm],
            audience=self.policy.audience,
            issuer=self.policy.issuer,
            leeway=self.policy.leeway_seconds,
            options={"require": REQUIRED_CLAIMS},
        )
        return claims


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and not value.startswith("pa_")
