"""Who may read the metrics: clients on this machine, and others that present METRICS_TOKEN.

Metrics are not public data (they name agents, models, routes and volumes), so the API's
`/metrics` and the worker's metrics port answer a loopback client, and any other only with
`Authorization: Bearer <METRICS_TOKEN>` when a token is set. A request that came through a proxy
(it carries X-Forwarded-For or Forwarded) is never taken for a local one: a reverse proxy on the same
machine would otherwise make every client on the internet look like 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from purpose_agent.kit.client_address import parse_address

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded")
# The last part of a refusal's problem type: /problems/metrics-forbidden.
FORBIDDEN_SLUG = "metrics-forbidden"


@dataclass(frozen=True)
class MetricsAccess:
    """The rule for one process; `token` None: loopback clients only."""

    token: str | None = None

    def allows(self, *, client: str | None, forwarded: bool, authorization: str | None) -> bool:
        """Whether a request from `client` (its address; None: not an IP peer) may read the metrics."""
        if client is not None and not forwarded:
            address = parse_address(client)
            if address is not None and address.is_loopback:
                return True
        return self._presents_token(authorization)

    def refusal(self) -> str:
        """Why a refused request was refused, for its 403 problem."""
        if self.token is None:
            return "Metrics are served to clients on this machine only (set METRICS_TOKEN to allow others)."
        return "Metrics need Authorization: Bearer with the metrics token from clients on other machines."

    def _presents_token(self, authorization: str | None) -> bool:
        if self.token is None or not authorization:
            return False
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return False
        # Digests of equal length: the comparison takes the same time whatever was sent.
        return hmac.compare_digest(_digest(presented.strip()), _digest(self.token))


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()
