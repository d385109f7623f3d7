"""The MCP settings: DNS-rebinding protection that cannot be configured into refusing everything."""

from __future__ import annotations

import pytest

from purpose_agent.settings import SettingsError, load_settings


def test_allowed_hosts_and_origins_are_lists_local_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ALLOWED_HOSTS", " agents.example.com , agents.example.com:* ")
    settings = load_settings()
    assert settings.mcp.hosts == ["agents.example.com", "agents.example.com:*"]
    assert settings.mcp.origins == ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    assert settings.mcp.api_key is None


def test_no_allowed_host_stops_the_start_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ALLOWED_HOSTS", " , ")
    with pytest.raises(SettingsError, match=r"^invalid setting MCP_ALLOWED_HOSTS: .*names no host"):
        load_settings()
