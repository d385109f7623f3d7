"""How long to wait before trying again: exponential backoff with full jitter.

Full jitter (a uniform draw below an exponentially growing bound) spreads the retries of many
clients that failed together, which fixed or "equal" jitter does not. A server's `Retry-After`
is honoured as a floor, never beyond the cap. Nothing here sleeps: the caller decides (the LLM
router knowing how much of the request's deadline is left; the worker and the supervisor of `up`
while they wait for a database or a process to come back).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base_seconds: float = 0.25
    cap_seconds: float = 4.0

    def bound(self, attempt: int) -> float:
        """The upper bound of the pause after failed attempt number `attempt` (0-based)."""
        return min(self.cap_seconds, self.base_seconds * (2.0 ** min(attempt, 30)))

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The pause before the next try, in [0, cap]: full jitter, raised to `retry_after` when given."""
        draw = (rng or random).uniform(0.0, self.bound(attempt))
        if retry_after is not None and retry_after > 0:
            draw = max(draw, retry_after)
        return min(draw, self.cap_seconds)
