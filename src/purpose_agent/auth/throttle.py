"""Sign-in attempts counted per username and per client address, in Redis when it answers.

Each attempt is counted before its password is checked, in one atomic step (attempt_windows.py): a
burst of guesses sent at once gets no more than the limit through to the password check, the rest
a 429. A sign-in that succeeds is taken back out, so the windows hold failures (and attempts still
being checked): a user who types the right password is not slowed down by their own earlier typos
beyond the limit, and an attacker guessing one account's password, or many accounts' from one
address, is stopped either way.

When Redis fails or does not answer within `timeout` seconds, attempts are counted in this process's
memory rather than let through, and Redis is tried again `retry_after` seconds later: the counts are
shared again as soon as it is back (those made in memory meanwhile stay in memory).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass

import structlog
from limits import parse
from redis.asyncio import Redis
from redis.exceptions import RedisError

from purpose_agent.auth.attempt_windows import Bucket, MemoryAttemptWindows, RedisAttemptWindows

log = structlog.get_logger("purpose_agent.auth")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One sign-in attempt: counted (`retry_after` None) or refused, and where it was counted."""

    id: str
    buckets: tuple[Bucket, ...]
    retry_after: int | None
    on_redis: bool

    @property
    def admitted(self) -> bool:
        return self.retry_after is None


class LoginThrottle:
    def __init__(
        self,
        redis: Redis | None,
        per_username: str,
        per_address: str,
        *,
        prefix: str = "login",
        timeout: float = 1.0,
        retry_after: float = 5.0,
    ) -> None:
        self.per_username = parse(per_username)
        self.per_address = parse(per_address)
        self.prefix = prefix
        self.timeout = timeout
        self.retry_after = retry_after
        self._redis = RedisAttemptWindows(redis) if redis is not None else None
        self._memory = MemoryAttemptWindows()
        self._redis_down_until: float | None = None

    @property
    def degraded(self) -> bool:
        """True while Redis failed and attempts are counted in this process only."""
        return self._redis_down_until is not None

    async def attempt(self, username: str, address: str) -> Attempt:
        """Count one attempt for `username` from `address`, or refuse it (nothing counted)."""
        buckets = self._buckets(username, address)
        attempt_id = uuid.uuid4().hex
        if self._redis is not None and self._redis_due():
            try:
                async with asyncio.timeout(self.timeout):
                    wait = await self._redis.admit(buckets, attempt_id)
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed(exc)
            else:
                self._recovered()
                return Attempt(attempt_id, buckets, _whole(wait), on_redis=True)
        wait = self._memory.admit(buckets, attempt_id)
        return Attempt(attempt_id, buckets, _whole(wait), on_redis=False)

    async def succeeded(self, attempt: Attempt) -> None:
        """The attempt signed in: it stops counting against the username and the address."""
        if not attempt.admitted:
            return
        if not attempt.on_redis:
            self._memory.release(attempt.buckets, attempt.id)
            return
        assert self._redis is not None
        try:
            async with asyncio.timeout(self.timeout):
                await self._redis.release(attempt.buckets, attempt.id)
        except (RedisError, OSError, TimeoutError) as exc:
            # It leaves the window by itself; until then it counts as one more failure.
            log.warning("login_attempt_not_released", error=type(exc).__name__)

    def _buckets(self, username: str, address: str) -> tuple[Bucket, ...]:
        return (
            Bucket(
                f"{self.prefix}:user:{username}",
                self.per_username.amount,
                self.per_username.get_expiry(),
            ),
            Bucket(
                f"{self.prefix}:ip:{address}",
                self.per_address.amount,
                self.per_address.get_expiry(),
            ),
        )

    def _redis_due(self) -> bool:
        down_until = self._redis_down_until
        return down_until is None or time.monotonic() >= down_until

    def _failed(self, exc: BaseException) -> None:
        if self._redis_down_until is None:
            log.warning(
                "login_throttle_degraded",
                error=type(exc).__name__,
                retry_seconds=self.retry_after,
                detail="Redis failed; counting sign-in attempts in this process until it answers again",
            )
        self._redis_down_until = time.monotonic() + self.retry_after

    def _recovered(self) -> None:
        if self._redis_down_until is not None:
            log.info("login_throttle_recovered", detail="sign-in attempts are counted in Redis again")
            self._redis_down_until = None


def _whole(wait: float | None) -> int | None:
    """Seconds for `Retry-After`: whole, and at least 1."""
    return None if wait is None else max(1, math.ceil(wait))
