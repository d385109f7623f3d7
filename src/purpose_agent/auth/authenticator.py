"""Who presents a secret: an API key or a JWT, with the key and user lookups cached for seconds.

Every request authenticates, and most come with a key seen moments before. A live key's principal
is kept for `AUTH_CACHE_SECONDS` (5 s by default) by the digest of the key, never the key itself;
a user's active state likewise by user id. What may change meanwhile is honoured as follows:

- a key revoked or a user changed through this process (API) is dropped from its cache at once;
- through another replica or the command line, when that change commits: it is announced through
  PostgreSQL (`db.notifications`) to every process; while a process cannot listen, within the
  cache's lifetime;
- a key that expires is refused from its expiry on (the expiry is cached with it).

Unknown and refused secrets are never cached, so a guess costs a lookup every time (and counts
against the rate limits), and the cache holds only keys that were presented and live. Why one was
refused (`Refusal`: invalid, expired, revoked) is told to the metrics, never to the caller.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.auth import keys
from purpose_agent.auth.key_use import KeyUseRecorder
from purpose_agent.auth.principal import Principal, Refusal, Role
from purpose_agent.auth.tokens import InvalidToken, TokenService, looks_like_jwt
from purpose_agent.auth.users import active_user, principal_of_user
from purpose_agent.kit.loading_cache import LoadingCache

CACHED_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _LiveKey:
    id: uuid.UUID
    principal: Principal
    expires_at: datetime | None


def _is_live(found: _LiveKey | Refusal) -> bool:
    return isinstance(found, _LiveKey)


class Authenticator:
    """The principal of a presented key or token, or why it is refused."""

    def __init__(self, tokens: TokenService, key_uses: KeyUseRecorder, cache_seconds: float) -> None:
        self.tokens = tokens
        self.key_uses = key_uses
        # By the key's digest, never the key; requests that arrive together with one uncached key
        # look it up once.
        self._keys: LoadingCache[str, _LiveKey | Refusal] = LoadingCache(
            cache_seconds, CACHED_ENTRIES, keep=_is_live
        )
        self._users: LoadingCache[uuid.UUID, Principal] = LoadingCache(cache_seconds, CACHED_ENTRIES)

    async def principal(
        self, sessionmaker: async_sessionmaker[AsyncSession], secret: str, now: datetime
    ) -> Principal | None:
        """Who `secret` identifies, or None when it is refused."""
        found = await self.authenticate(sessionmaker, secret, now)
        return found if isinstance(found, Principal) else None

    async def authenticate(
        self, sessionmaker: async_sessionmaker[AsyncSession], secret: str, now: datetime
    ) -> Principal | Refusal:
        """Who `secret` identifies, or why it is refused; a lookup, when needed, runs in a short
        transaction of its own."""
        if looks_like_jwt(secret):
            return await self._token_principal(sessionmaker, secret)
        if not keys.well_formed(secret):
            return Refusal.invalid
        digest = keys.digest(secret)

        async def load() -> _LiveKey | Refusal:
            async with sessionmaker() as session:
                key = await keys.find_key(session, digest)
                if key is None:
                    return Refusal.invalid
                refusal = keys.refusal_of(key, now)
                return refusal or _LiveKey(key.id, keys.principal_of(key), key.expires_at)

        found = await self._keys.get(digest, load)
        assert found is not None  # a load finds a key or a refusal
        if isinstance(found, Refusal):
            return found
        if found.expires_at is not None and found.expires_at <= now:  # expired while it was kept
            return Refusal.expired
        self.key_uses.note(found.id, now)
        return found.principal

    def forget_key(self, key_id: uuid.UUID) -> None:
        """Drop a revoked key: refused from its next request on."""
        self._keys.forget_where(lambda live: isinstance(live, _LiveKey) and live.id == key_id)

    def forget_user(self, user_id: uuid.UUID) -> None:
        """Drop a changed user (disabled, new role): read again on its next request."""
        self._users.forget(user_id)

    def clear(self) -> None:
        """Drop every cached key and user (changes may have been missed)."""
        self._keys.clear()
        self._users.clear()

    async def _token_principal(
        self, sessionmaker: async_sessionmaker[AsyncSession], token: str
    ) -> Principal | Refusal:
        try:
            claims = await self.tokens.verify(token)
        except InvalidToken as exc:
            return Refusal.expired if exc.expired else Refusal.invalid
        if not claims.subject.startswith("user:"):
            # An identity provider's token: its role claim, when it names one of ours.
            role = Role(claims.role) if claims.role in {r.value for r in Role} else Role.user
            return Principal(
                id=f"jwt:{claims.issuer}:{claims.subject}", name=claims.name or claims.subject, role=role
            )
        # Our own users: a user disabled since the token was issued is refused.
        try:
            user_id = uuid.UUID(claims.subject.removeprefix("user:"))
        except ValueError:
            return Refusal.invalid

        async def load() -> Principal | None:
            async with sessionmaker() as session:
                user = await active_user(session, user_id)
                return principal_of_user(user) if user is not None else None

        # A user deleted or disabled since the token was issued: their access was withdrawn.
        return await self._users.get(user_id, load) or Refusal.revoked
