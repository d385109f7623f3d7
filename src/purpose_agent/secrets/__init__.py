"""Secret settings from a provider chosen with SECRETS_PROVIDER, behind a TTL cache.

    config.py    SecretsConfig (SECRETS_*, VAULT_*, AWS_*, AZURE_*) and open_secret_cache()
    provider.py  the SecretsProvider interface: fetch(names) -> {name: value}
    files.py     file: one file per setting (Docker and Kubernetes secrets)
    vault.py     vault: one HashiCorp Vault KV v2 secret (hvac)
    aws.py       aws: one AWS Secrets Manager secret holding a JSON object (boto3)
    azure.py     azure: one Azure Key Vault secret per setting, JWT_SECRET as JWT-SECRET
    cache.py     SecretCache: one fetch per TTL, the last values through a short outage
    source.py    the pydantic-settings source that `settings.py` places below the environment
    errors.py    SecretsError and its kinds, each one line naming the provider

`env`, the default, calls nothing: the environment and `.env` are read as for any other setting.
"""

from purpose_agent.secrets.cache import SecretCache
from purpose_agent.secrets.config import SecretsConfig, SecretsProviderKind, open_secret_cache
from purpose_agent.secrets.errors import (
    CredentialsRefused,
    ProviderMisconfigured,
    ProviderUnreachable,
    SecretMalformed,
    SecretNotFound,
    SecretsError,
)
from purpose_agent.secrets.provider import SecretsProvider
from purpose_agent.secrets.source import SECRET_CACHE_KEY, SecretsProviderSource, with_secrets_source

__all__ = [
    "SECRET_CACHE_KEY",
    "CredentialsRefused",
    "ProviderMisconfigured",
    "ProviderUnreachable",
    "SecretCache",
    "SecretMalformed",
    "SecretNotFound",
    "SecretsConfig",
    "SecretsError",
    "SecretsProvider",
    "SecretsProviderKind",
    "SecretsProviderSource",
    "open_secret_cache",
    "with_secrets_source",
]
