"""SECRETS_PROVIDER=vault: one KV v2 secret, read with the real hvac client from a local Vault fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from purpose_agent.secrets import CredentialsRefused, ProviderUnreachable, SecretCache
from purpose_agent.secrets.vault import VaultProvider
from purpose_agent.settings import SettingsError, load_settings
from tests.ports import refused_url
from tests.secrets.conftest import JWT_SECRET, OPENAI_API_KEY, VAULT_TOKEN
from tests.secrets.local_server import FakeVault


@pytest.fixture
def vault_env(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> FakeVault:
    monkeypatch.setenv("SECRETS_PROVIDER", "vault")
    monkeypatch.setenv("VAULT_ADDR", vault.url)
    monkeypatch.setenv("VAULT_TOKEN", VAULT_TOKEN)
    monkeypatch.setenv("LLM_CHAIN", "openai,local")
    return vault


def test_load_settings_reads_the_secret_once_with_the_token(vault_env: FakeVault) -> None:
    settings = load_settings()

    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == JWT_SECRET
    openai = settings.provider_settings()["openai"]
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == OPENAI_API_KEY
    # One read served the settings and every provider's key.
    [request] = vault_env.requests
    assert (request.method, request.path) == ("GET", "/v1/secret/data/purpose-agent")
    assert request.headers["x-vault-token"] == VAULT_TOKEN
    # The settings keep the cache (the LLM providers read their keys through it): within the TTL it
    # serves a secret again without a call.
    assert settings.secret_cache is not None
    assert settings.secret_cache.get(["JWT_SECRET"]) == {"JWT_SECRET": JWT_SECRET}
    assert len(vault_env.requests) == 1


def test_mount_path_and_a_token_file(
    vault: FakeVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.secrets[("kv", "teams/agents")] = {"JWT_SECRET": "jwt-from-kv-teams-agents-0123456789abcdef"}
    token_file = tmp_path / "vault-token"
    token_file.write_text(VAULT_TOKEN + "\n")
    monkeypatch.setenv("SECRETS_PROVIDER", "vault")
    monkeypatch.setenv("VAULT_ADDR", vault.url + "/")
    monkeypatch.setenv("VAULT_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("VAULT_MOUNT", "kv")
    monkeypatch.setenv("VAULT_PATH", "/teams/agents")

    settings = load_settings()

    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == "jwt-from-kv-teams-agents-0123456789abcdef"
    assert [request.path for request in vault.requests] == ["/v1/kv/data/teams/agents"]


def test_an_environment_variable_wins_over_vault(
    vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-override")
    settings = load_settings()
    openai = settings.provider_settings()["openai"]
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == "sk-operator-override"
    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == JWT_SECRET


def test_a_refused_token_is_one_line_without_a_secret(
    vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "hvs.a-revoked-token")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message == (f"secrets provider vault: {vault_env.url} refused the token for secret/purpose-agent")
    assert "hvs." not in message


def test_an_unknown_path_names_it(vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_PATH", "no-such-secret")
    with pytest.raises(
        SettingsError, match=r"^secrets provider vault: no KV v2 secret at secret/no-such-secret"
    ):
        load_settings()


def test_an_unreachable_vault_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    address = refused_url()
    monkeypatch.setenv("SECRETS_PROVIDER", "vault")
    monkeypatch.setenv("VAULT_ADDR", address)
    monkeypatch.setenv("VAULT_TOKEN", VAULT_TOKEN)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message == f"secrets provider vault: cannot reach {address}: connection failed"
    assert VAULT_TOKEN not in message


def test_a_sealed_vault_is_unreachable_and_no_value_is_echoed(vault_env: FakeVault) -> None:
    vault_env.down = True
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message == f"secrets provider vault: {vault_env.url} failed: VaultDown"
    assert JWT_SECRET not in message


def test_a_value_that_is_not_a_string_is_named_not_shown(vault_env: FakeVault) -> None:
    vault_env.secrets[("secret", "purpose-agent")]["REDIS_URL"] = {"host": "secret-host"}
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == "secrets provider vault: secret/purpose-agent: REDIS_URL is not a string"


def test_the_cache_serves_the_last_values_through_an_outage_then_fails(vault: FakeVault) -> None:
    now = [0.0]
    provider = VaultProvider(
        vault.url, token=VAULT_TOKEN, token_file=None, mount="secret", path="purpose-agent"
    )
    cache = SecretCache(provider, ttl_seconds=300, clock=lambda: now[0])
    assert cache.get(["JWT_SECRET"]) == {"JWT_SECRET": JWT_SECRET}

    vault.down = True
    now[0] = 301.0  # stale: fetched again, fails, the last values are served
    assert cache.get(["JWT_SECRET"]) == {"JWT_SECRET": JWT_SECRET}
    now[0] = 600.0
    with pytest.raises(ProviderUnreachable):
        cache.get(["JWT_SECRET"])
    assert len(vault.requests) == 3

    vault.down = False
    vault.token = "hvs.rotated"
    with pytest.raises(CredentialsRefused):
        cache.get(["JWT_SECRET"])
