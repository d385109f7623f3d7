"""MCP: which hosts and browser origins /api/mcp answers, and the key `purpose-agent mcp` acts with."""

from __future__ import annotations

from pydantic import BaseModel, field_validator

from purpose_agent.settings.fields import OptionalSecret, group_config, listed


class McpSettings(BaseModel):
    """MCP"""

    model_config = group_config("mcp_")

    allowed_hosts: str = "127.0.0.1:*,localhost:*,[::1]:*"
    """Against DNS rebinding, POST /api/mcp answers only requests whose Host header is listed here
    (comma-separated; `name:*` allows any port; others get 421). Behind a load balancer, list the names
    clients use, e.g. agents.example.com,agents.example.com:*"""
    allowed_origins: str = "http://127.0.0.1:*,http://localhost:*,http://[::1]:*"
    """Browser origins allowed to call /api/mcp (others get 403). Requests without an Origin header (any
    client that is not a web page) are not affected."""
    api_key: OptionalSecret = None
    """The API key (or JWT) `purpose-agent mcp` acts with: the stdio server a desktop client starts. It is
    checked at start (a bad one stops it) and at each call (a revoked key stops working at once)."""

    @field_validator("allowed_hosts")
    @classmethod
    def _some_host(cls, value: str) -> str:
        if not listed(value):
            raise ValueError("names no host: every MCP request would be refused")
        return value

    @property
    def hosts(self) -> list[str]:
        return listed(self.allowed_hosts)

    @property
    def origins(self) -> list[str]:
        return listed(self.allowed_origins)
