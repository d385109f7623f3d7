"""Which secrets provider to use and how to reach it: the settings read before every other one."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from purpose_agent.secrets.cache import Clock, SecretCache
from purpose_agent.secrets.errors import ProviderMisconfigured
from purpose_agent.secrets.provider import SecretsProvider


class SecretsProviderKind(StrEnum):
    env = "env"
    file = "file"
    vault = "vault"
    aws = "aws"
    azure = "azure"


class SecretsConfig(BaseModel):
    """The SECRETS_*, VAULT_*, AWS_* and AZURE_* settings; `Settings` inherits them (documented once)."""

    model_config = ConfigDict(extra="ignore")

    # env: the secret settings come from the environment and .env only (no provider is called).
    secrets_provider: SecretsProviderKind = SecretsProviderKind.env
    secrets_cache_ttl_seconds: Annotated[float, Field(ge=0, le=86_400)] = 300.0
    secrets_dir: Path = Path("/run/secrets")
    vault_addr: str = ""
    vault_token: SecretStr | None = None
    vault_token_file: Path | None = None
    vault_mount: Annotated[str, Field(min_length=1)] = "secret"
    vault_path: Annotated[str, Field(min_length=1)] = "purpose-agent"
    aws_secret_id: str = ""
    aws_region: str = ""
    aws_endpoint_url: str = ""
    azure_key_vault_url: str = ""

    @field_validator("vault_token", "vault_token_file", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("vault_addr", "aws_endpoint_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("azure_key_vault_url")
    @classmethod
    def _tls_url(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError("must start with https:// (Key Vault takes tokens over TLS only)")
        return value.rstrip("/")

    @field_validator("vault_mount", "vault_path")
    @classmethod
    def _no_outer_slashes(cls, value: str) -> str:
        return value.strip("/")


def open_secret_cache(config: SecretsConfig, *, clock: Clock = time.monotonic) -> SecretCache | None:
    """The configured provider behind its TTL cache; None for `env`. Raises `ProviderMisconfigured`."""
    provider = _provider(config)
    return None if provider is None else SecretCache(provider, config.secrets_cache_ttl_seconds, clock=clock)


def _provider(config: SecretsConfig) -> SecretsProvider | None:
    kind = config.secrets_provider
    # Each SDK is imported only when chosen: boto3 alone adds a good part of a second to every start.
    if kind is SecretsProviderKind.file:
        from purpose_agent.secrets.files import FileProvider

        return FileProvider(config.secrets_dir)
    if kind is SecretsProviderKind.vault:
        from purpose_agent.secrets.vault import VaultProvider

        if not config.vault_addr:
            raise ProviderMisconfigured(kind.value, "VAULT_ADDR is not set")
        if config.vault_token is None and config.vault_token_file is None:
            raise ProviderMisconfigured(kind.value, "neither VAULT_TOKEN nor VAULT_TOKEN_FILE is set")
        token = config.vault_token.get_secret_value() if config.vault_token else None
        return VaultProvider(
            config.vault_addr,
            token=token,
            token_file=config.vault_token_file,
            mount=config.vault_mount,
            path=config.vault_path,
        )
    if kind is SecretsProviderKind.aws:
        from purpose_agent.secrets.aws import AwsProvider

        for name, value in (("AWS_SECRET_ID", config.aws_secret_id), ("AWS_REGION", config.aws_region)):
            if not value:
                raise ProviderMisconfigured(kind.value, f"{name} is not set")
        return AwsProvider(
            config.aws_secret_id, region=config.aws_region, endpoint_url=config.aws_endpoint_url or None
        )
    if kind is SecretsProviderKind.azure:
        from purpose_agent.secrets.azure import AzureProvider

        if not config.azure_key_vault_url:
            raise ProviderMisconfigured(kind.value, "AZURE_KEY_VAULT_URL is not set")
        return AzureProvider(config.azure_key_vault_url)
    return None
