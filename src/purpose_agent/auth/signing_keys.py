"""The key new tokens are signed with, and the few keys tokens are still accepted under.

A rotated key (a new JWT_SECRET or JWT_PRIVATE_KEY from the secrets provider) signs every token
issued from then on; the key it replaces keeps verifying for `keep_seconds` more, long enough for the
tokens it signed to expire, then is dropped. Each key has an id, `kid`, put in the header of the
tokens it signs: derived from the key itself, so every replica names the same key alike without
telling one another, and a token says which key to check it with instead of every key being tried.

    kid = the first 16 characters of base64url(SHA-256(...)) of the HMAC secret, or of the public
          key's DER encoding for RS256/ES256. The digest of a secret of 32 random bytes tells
          nothing of it; the public key is public.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms

# Kept apart from a secret's plain digest, so that its kid can never be mistaken for one elsewhere.
HMAC_KID_CONTEXT = b"purpose-agent token key id\x00"
# At most so many retired keys are kept, however often keys are rotated.
MOST_RETIRED_KEYS = 4


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key: `signing` is None where this process only verifies (a public key, no private one)."""

    kid: str
    signing: Any
    verifying: Any


def signing_key(algorithm: str, *, signing: str | None, verifying: str | None) -> SigningKey:
    """The key of `algorithm` from its text (an HMAC secret, or PEM): for RS256/ES256 the verifying key
    is derived from the private one when it is given. Raises ValueError (PyJWT's InvalidKeyError too)
    for text that is not such a key."""
    prepare = get_default_algorithms()[algorithm].prepare_key
    if algorithm.startswith("HS"):
        secret = signing if signing is not None else verifying
        if secret is None:
            raise ValueError("no secret")
        prepared = prepare(secret)
        return SigningKey(_kid(HMAC_KID_CONTEXT + prepared), prepared, prepared)
    private = prepare(signing) if signing is not None else None
    if private is not None and not hasattr(private, "public_key"):
        raise ValueError(f"the {algorithm} signing key is not a private key")
    public = private.public_key() if private is not None else prepare(verifying) if verifying else None
    if public is None:
        raise ValueError("no key")
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return SigningKey(_kid(der), private, public)


def _kid(material: bytes) -> str:
    digest = hashlib.sha256(material).digest()
    return base64.urlsafe_b64encode(digest).decode()[:16]


class KeyRing:
    """The current key and the retired ones still accepted; `clock` is monotonic seconds."""

    def __init__(
        self, current: SigningKey, *, keep_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keep_seconds = keep_seconds
        self._clock = clock
        self._current = current
        # Newest first: (key, when it stopped signing).
        self._retired: list[tuple[SigningKey, float]] = []

    @property
    def current(self) -> SigningKey:
        return self._current

    def rotate(self, key: SigningKey) -> bool:
        """Sign with `key` from now on, and keep accepting the key it replaces; False: already current."""
        if key.kid == self._current.kid:
            return False
        now = self._clock()
        retired = [(old, at) for old, at in self._retired if old.kid != key.kid]
        self._retired = [(self._current, now), *retired][:MOST_RETIRED_KEYS]
        self._current = key
        return True

    def accepted(self) -> list[SigningKey]:
        """The keys tokens are accepted under now: the current one first, then the retired, newest first."""
        oldest = self._clock() - self.keep_seconds
        self._retired = [(key, at) for key, at in self._retired if at > oldest]
        return [self._current, *(key for key, _ in self._retired)]

    def find(self, kid: str) -> SigningKey | None:
        """The accepted key with this id, if any."""
        return next((key for key in self.accepted() if key.kid == kid), None)
