"""Secret settings from a provider chosen with SECRETS_PROVIDER, behind a TTL cache.

    config.py    SecretsConfig (SECRETS_*, VAULT_*, AWS_*, AZURE_*) and open_secret_cache()
    provider.py  the SecretsProvider interface: fetch(names) -> {name: value}
    files.py     file: one file per setting (Docker and Kubernetes secrets)
    vault.py     vault: one HashiCorp Vault KV v2 secret (hvac)
    aws.py       aws: one AWS Secrets Manager secret holding a JSON object (boto3)
    azure.py     azure: one Azure Key Vault secret per setting, JWT_SECRET as JWT-SECRET
    cache.py     SecretCache: one fetch per TTL, the last values through a short outage
    refresher.py SecretRefresher: a fetch every TTL in the background, changed values handed on
    errors.py    SecretsError and its kinds, each one line naming the provider

`env`, the default, calls nothing: the environment and `.env` are read as for any other setting.
The settings read the provider's values between the environment and `.env` (settings/sources.py).
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
from purpose_agent.secrets.files import read_secret_file
from purpose_agent.secrets.provider import SecretsProvider

__all__ = [
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
    "open_secret_cache",
    "read_secret_file",
]
