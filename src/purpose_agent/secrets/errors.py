"""Why the secrets could not be read, in one line that names the provider.

    SecretsError             base: `provider` and `problem`; str() is one line
      ├── ProviderMisconfigured   a setting the provider needs is missing or unusable
      ├── ProviderUnreachable     no connection, a timeout, or the provider answered 5xx
      ├── CredentialsRefused      the provider refused our token or credentials (401/403)
      ├── SecretNotFound          the configured secret (Vault path, AWS secret id) does not exist
      └── SecretMalformed         the secret exists but is not a mapping of names to strings

A message names settings, paths and keys, never a value: it is printed at start and may be logged.
"""

from __future__ import annotations


class SecretsError(Exception):
    """The secrets provider failed; the message is one line naming it and what is wrong."""

    def __init__(self, provider: str, problem: str) -> None:
        super().__init__(f"secrets provider {provider}: {problem}")
        self.provider = provider
        self.problem = problem


class ProviderMisconfigured(SecretsError):
    """A setting the provider needs is missing or unusable."""


class ProviderUnreachable(SecretsError):
    """The provider could not be reached or failed on its side."""


class CredentialsRefused(SecretsError):
    """The provider refused the credentials it was given."""


class SecretNotFound(SecretsError):
    """The configured secret does not exist."""


class SecretMalformed(SecretsError):
    """The secret is not a mapping of variable names to strings."""
