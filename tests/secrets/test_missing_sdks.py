"""A production install carries no cloud SDK it does not use (extras in pyproject.toml): choosing a
provider whose SDK is not installed stops the start with one line naming the extra to install."""

from __future__ import annotations

import sys

import pytest

from purpose_agent.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("provider", "settings", "packages"),
    [
        ("vault", {"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_TOKEN": "hvs.x"}, ["hvac"]),
        ("aws", {"AWS_SECRET_ID": "purpose-agent", "AWS_REGION": "eu-west-1"}, ["boto3", "botocore"]),
        ("azure", {"AZURE_KEY_VAULT_URL": "https://v.vault.azure.net"}, ["azure"]),
    ],
)
def test_a_provider_whose_sdk_is_not_installed_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, provider: str, settings: dict[str, str], packages: list[str]
) -> None:
    # As in an install without the extra: the SDK cannot be imported, and our adapter is imported anew.
    for package in packages:
        for loaded in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.delitem(sys.modules, f"purpose_agent.secrets.{provider}", raising=False)
    monkeypatch.setenv("SECRETS_PROVIDER", provider)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert str(raised.value) == (
        f"secrets provider {provider}: its SDK is not installed: pip install 'purpose-agent[{provider}]'"
    )
