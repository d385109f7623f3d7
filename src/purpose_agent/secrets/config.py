"""Which secrets provider to use and how to reach it: the settings read before every other one.

`Settings` holds them as its `secrets` group.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
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
    """Secrets provider

    Where the secret settings come from: JWT_SECRET, JWT_PRIVATE_KEY, DATABASE_URL, REDIS_URL,
    EMBEDDER_API_KEY, GEMINI_API_KEY, OPENAI_API_KEY, ANTHROPIC_API_KEY and OLLAMA_API_KEY.
    Each may also be read from the file its NAME_FILE variable names in the environment (e.g.
    JWT_SECRET_FILE=/run/secrets/jwt_secret, as Docker and Kubernetes mount secrets); a file named that
    cannot be read stops the start with one line naming it.
    """

    # Each field is read from its variable, the alias: VAULT_ADDR, SECRETS_PROVIDER, ...
    model_config = ConfigDict(
        alias_generator=str.upper,
        validate_by_name=True,
        validate_by_alias=True,
        use_attribute_docstrings=True,
    )

    provider: Annotated[SecretsProviderKind, Field(alias="SECRETS_PROVIDER")] = SecretsProviderKind.env
    """env (only the environment and this file) | file | vault | aws | azure. With a provider, a variable
    set in the environment still wins (an operator's override), and the provider wins over this file. A
    provider that cannot be reached or refuses the credentials stops the start with one line saying why."""
    cache_ttl_seconds: Annotated[float, Field(ge=0, le=86_400, alias="SECRETS_CACHE_TTL_SECONDS")] = 300.0
    """Values are fetched at start, then again every TTL in the background (at least every second): a
    failed refresh is logged and the last values kept. A new JWT_SECRET or JWT_PRIVATE_KEY signs new
    tokens at once (the previous key is accepted until its tokens expire); other secrets are used from
    the next start."""
    directory: Annotated[Path, Field(alias="SECRETS_DIR")] = Path("/run/secrets")
    """file: one file per setting, named JWT_SECRET or jwt_secret (Docker and Kubernetes secrets); a
    trailing newline is dropped."""
    vault_addr: str = ""
    """vault: one KV version 2 secret at MOUNT/PATH whose keys are the variable names (JWT_SECRET, ...),
    read with VAULT_TOKEN, or with the token in VAULT_TOKEN_FILE (read again at each fetch)."""
    vault_token: SecretStr | None = None
    vault_token_file: Path | None = None
    vault_mount: Annotated[str, Field(min_length=1)] = "secret"
    vault_path: Annotated[str, Field(min_length=1)] = "purpose-agent"
    aws_secret_id: str = ""
    """aws: one Secrets Manager secret whose SecretString is a JSON object of variable names to values.
    Credentials come from boto3's usual chain (environment, profile, instance or task role).
    AWS_ENDPOINT_URL is for a private endpoint or a local stand-in; empty: the region's own."""
    aws_region: str = ""
    aws_endpoint_url: str = ""
    azure_key_vault_url: str = ""
    """azure: one Key Vault secret per setting, named like the variable with '-' for '_' (JWT-SECRET,
    OPENAI-API-KEY), e.g. https://my-vault.vault.azure.net. The token comes from DefaultAzureCredential's
    usual chain (AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, workload or managed identity,
    az login)."""

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
    return None if provider is None else SecretCache(provider, config.cache_ttl_seconds, clock=clock)


def _provider(config: SecretsConfig) -> SecretsProvider | None:
    kind = config.provider
    # Each SDK is imported only when chosen: boto3 alone adds a good part of a second to every start,
    # and a production image carries only the extras (pyproject.toml) of the provider it uses.
    if kind is SecretsProviderKind.file:
        from purpose_agent.secrets.files import FileProvider

        return FileProvider(config.directory)
    if kind is SecretsProviderKind.vault:
        if not config.vault_addr:
            raise ProviderMisconfigured(kind.value, "VAULT_ADDR is not set")
        if config.vault_token is None and config.vault_token_file is None:
            raise ProviderMisconfigured(kind.value, "neither VAULT_TOKEN nor VAULT_TOKEN_FILE is set")
        with _sdk_of(kind, "hvac", "requests"):
            from purpose_agent.secrets.vault import VaultProvider
        token = config.vault_token.get_secret_value() if config.vault_token else None
        return VaultProvider(
            config.vault_addr,
            token=token,
            token_file=config.vault_token_file,
            mount=config.vault_mount,
            path=config.vault_path,
        )
    if kind is SecretsProviderKind.aws:
        for name, value in (("AWS_SECRET_ID", config.aws_secret_id), ("AWS_REGION", config.aws_region)):
            if not value:
                raise ProviderMisconfigured(kind.value, f"{name} is not set")
        with _sdk_of(kind, "boto3", "botocore"):
            from purpose_agent.secrets.aws import AwsProvider
        return AwsProvider(
            config.aws_secret_id, region=config.aws_region, endpoint_url=config.aws_endpoint_url or None
        )
    if kind is SecretsProviderKind.azure:
        if not config.azure_key_vault_url:
            raise ProviderMisconfigured(kind.value, "AZURE_KEY_VAULT_URL is not set")
        with _sdk_of(kind, "azure"):
            from purpose_agent.secrets.azure import AzureProvider
        return AzureProvider(config.azure_key_vault_url)
    return None


@contextlib.contextmanager
def _sdk_of(kind: SecretsProviderKind, *packages: str) -> Iterator[None]:
    """An import of the provider's SDK that, when the SDK is not installed, names the extra to install."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in packages:
            raise
        raise ProviderMisconfigured(
            kind.value, f"its SDK is not installed: pip install 'purpose-agent[{kind.value}]'"
        ) from None
