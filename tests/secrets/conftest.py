"""Each secrets test runs in an empty directory with none of our variables, nor Vault's, AWS's or Azure's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from purpose_agent.settings import Settings, settings_variables
from purpose_agent.vocabulary import KNOWN_PROVIDERS
from tests.secrets.local_server import FakeSecretsManager, FakeVault

JWT_SECRET = "jwt-secret-from-the-provider-0123456789abcdef"
OPENAI_API_KEY = "sk-openai-from-the-provider-0123456789"
VAULT_TOKEN = "hvs.test-token-0123456789"
AWS_ACCESS_KEY_ID = "AKIAFAKETESTKEY00000"
AWS_REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def empty_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    ours = {variable.name for variable in settings_variables(Settings)}
    prefixes = (
        "SECRETS_",
        "VAULT_",
        "AWS_",
        "AZURE_",
        "IDENTITY_",
        "MSI_",
        *(f"{name.upper()}_" for name in KNOWN_PROVIDERS),
    )
    for name in list(os.environ):
        if name.upper() in ours or name.upper().startswith(prefixes):
            monkeypatch.delenv(name)
    # boto3 must find no profile of the developer's, and never ask an instance metadata service.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return workdir


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    server = FakeVault(token=VAULT_TOKEN)
    server.secrets[("secret", "purpose-agent")] = {"JWT_SECRET": JWT_SECRET, "OPENAI_API_KEY": OPENAI_API_KEY}
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secrets_manager() -> Iterator[FakeSecretsManager]:
    server = FakeSecretsManager(access_key_id=AWS_ACCESS_KEY_ID, region=AWS_REGION)
    server.secrets["prod/purpose-agent"] = (
        f'{{"JWT_SECRET": "{JWT_SECRET}", "OPENAI_API_KEY": "{OPENAI_API_KEY}"}}'
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials where boto3's chain looks first: the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "dummy-secret-access-key")
