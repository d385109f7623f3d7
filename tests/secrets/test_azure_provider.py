"""SECRETS_PROVIDER=azure: Key Vault over TLS through the real SDK, the token from the real chain.

The vault is a local HTTPS fake (its self-signed certificate trusted through REQUESTS_CA_BUNDLE, as
an operator would trust a private CA); `DefaultAzureCredential` gets its token from a local
managed-identity endpoint (IDENTITY_ENDPOINT, as on App Service), after Key Vault's challenge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from purpose_agent.settings import SettingsError, load_settings
from tests.ports import free_port
from tests.secrets.conftest import JWT_SECRET, OPENAI_API_KEY
from tests.secrets.local_server import FakeKeyVault, FakeManagedIdentity
from tests.secrets.tls import self_signed_certificate

ACCESS_TOKEN = "eyJ0eXAiOiJKV1QifQ.fake-access-token"
IDENTITY_HEADER = "identity-header-0123456789"


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    certificate, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate))
    return certificate, key


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeManagedIdentity]:
    server = FakeManagedIdentity(identity_header=IDENTITY_HEADER, token=ACCESS_TOKEN)
    server.start()
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    yield server
    server.stop()


@pytest.fixture
def key_vault(
    tls: tuple[Path, Path], identity: FakeManagedIdentity, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeKeyVault]:
    server = FakeKeyVault(tls, accepted_token=ACCESS_TOKEN)
    server.secrets.update({"JWT-SECRET": JWT_SECRET, "OPENAI-API-KEY": OPENAI_API_KEY})
    server.start()
    monkeypatch.setenv("SECRETS_PROVIDER", "azure")
    monkeypatch.setenv("AZURE_KEY_VAULT_URL", server.url)
    monkeypatch.setenv("LLM_CHAIN", "openai,local")
    yield server
    server.stop()


def test_load_settings_reads_each_secret_with_a_token_from_the_chain(
    key_vault: FakeKeyVault, identity: FakeManagedIdentity
) -> None:
    settings = load_settings()

    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == JWT_SECRET
    openai = settings.provider_settings()["openai"]
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == OPENAI_API_KEY
    # The token was asked for the resource of Key Vault's challenge, and sent with every read.
    [token_request] = identity.requests
    assert token_request.headers["x-identity-header"] == IDENTITY_HEADER
    authorised = [
        r.path for r in key_vault.requests if r.headers.get("authorization") == f"Bearer {ACCESS_TOKEN}"
    ]
    assert "/secrets/JWT-SECRET" in authorised
    assert "/secrets/OPENAI-API-KEY" in authorised
    # One fetch for the settings and every provider key: each name read once.
    assert len(authorised) == len(set(authorised))


def test_an_environment_variable_wins_over_key_vault(
    key_vault: FakeKeyVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-override")
    openai = load_settings().provider_settings()["openai"]
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == "sk-operator-override"


def test_a_refused_token_is_one_line_without_a_secret(
    key_vault: FakeKeyVault, identity: FakeManagedIdentity
) -> None:
    identity.token = "a-token-of-another-tenant"
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message == f"secrets provider azure: {key_vault.url} refused the token (401)"
    assert "token-of-another" not in message


def test_a_secret_the_identity_may_not_read_names_it(key_vault: FakeKeyVault) -> None:
    key_vault.forbidden.add("JWT-SECRET")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert (
        str(caught.value) == f"secrets provider azure: {key_vault.url} refused to give JWT-SECRET (Forbidden)"
    )
    assert JWT_SECRET not in str(caught.value)


def test_an_identity_endpoint_that_refuses_is_one_line(
    key_vault: FakeKeyVault, identity: FakeManagedIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "a-wrong-identity-header")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert (
        message == "secrets provider azure: DefaultAzureCredential could not get a token from any credential"
    )


def test_an_unreachable_vault_is_one_clear_line(
    tls: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"https://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SECRETS_PROVIDER", "azure")
    monkeypatch.setenv("AZURE_KEY_VAULT_URL", url)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == f"secrets provider azure: cannot reach {url}"


def test_a_plain_http_vault_url_is_refused_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_PROVIDER", "azure")
    monkeypatch.setenv("AZURE_KEY_VAULT_URL", "http://127.0.0.1:8443")
    with pytest.raises(SettingsError, match=r"^invalid setting AZURE_KEY_VAULT_URL: .*https://"):
        load_settings()
