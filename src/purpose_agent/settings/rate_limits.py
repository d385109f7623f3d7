"""Per-request rate limits, where they are counted, and whose forwarding headers name the client."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from purpose_agent.kit.client_address import ProxyHeader, parse_networks
from purpose_agent.kit.rate_limit import FailureMode
from purpose_agent.settings.fields import RateLimits, RedisUrl, group_config


class RateLimitSettings(BaseModel):
    """Rate limits

    Past a limit: 429 with Retry-After. Limits in the `limits` notation: "20/minute", "300 per hour",
    several joined by ";" ("10/second;1000/hour"). Health, the docs, /openapi.json and /metrics are exempt.
    """

    model_config = group_config("rate_limit_")

    enabled: bool = True
    """false: no per-request limits (client addresses are still resolved as below)."""
    per_ip: RateLimits = "1000/minute"
    """Every request, per client address (IPv6: per /64)."""
    per_principal: RateLimits = "300/minute"
    """Every request that presents a credential (X-API-Key or Authorization: Bearer), per credential."""
    chat: RateLimits = "20/minute"
    """On top: chat (/api/chat, /api/chat/stream, /v1/chat/completions) and MCP (/api/mcp...), per
    credential (per address without one)."""
    mcp: RateLimits = "30/minute"
    redis_url: RedisUrl = ""
    """Where limits are kept so that every process and replica shares them; empty: REDIS_URL. With neither,
    they are kept in each process's memory (a warning at start)."""
    key_prefix: Annotated[str, Field(min_length=1, max_length=200)] = "purpose-agent:rate-limit"
    """Prefix of the limiter's Redis keys."""
    on_redis_failure: FailureMode = FailureMode.memory
    """When Redis fails: memory (keep limiting in this process's memory; readiness shows the rate limiter
    "degraded") or refuse (limited requests get 503; readiness fails). Logged once per outage."""
    redis_timeout_seconds: Annotated[float, Field(gt=0, le=10)] = 0.5
    """A Redis call of the limiter gives up after this many seconds; after a failure Redis is tried again
    after RETRY seconds (readiness probes try it too)."""
    redis_retry_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    trusted_proxies: Annotated[str, Field(alias="TRUSTED_PROXIES")] = ""
    """Proxies whose forwarding header names the client, as comma-separated networks, e.g.
    10.0.0.0/8,127.0.0.1/32. Empty: the socket peer is the client and forwarding headers are ignored."""
    proxy_client_header: Annotated[ProxyHeader, Field(alias="PROXY_CLIENT_HEADER")] = (
        ProxyHeader.x_forwarded_for
    )
    """The header those proxies write: x-forwarded-for or forwarded (RFC 7239). Only that one is read."""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        parse_networks(value)
        return value
