"""Azure Key Vault: one secret per setting, named like the variable with '-' for '_' (JWT-SECRET).

Read with `azure-keyvault-secrets` over TLS, with a token from `DefaultAzureCredential`'s usual chain
(environment, workload identity, managed identity, Azure CLI, ...). Key Vault reads one secret per
call, so a fetch makes one request per name; a name the vault does not hold is left to `.env` and
the defaults.
"""

from __future__ import annotations

from collections.abc import Collection

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from purpose_agent.secrets.errors import CredentialsRefused, ProviderUnreachable, SecretsError

TIMEOUT_SECONDS = 10
# The SDK retries a failed connection up to 10 times by default; a start should fail sooner.
RETRIES = 2


def secret_name(variable: str) -> str:
    """Key Vault allows letters, digits and '-' only: JWT_SECRET is kept as JWT-SECRET."""
    return variable.replace("_", "-")


class AzureProvider:
    """`GET {vault_url}/secrets/{name}` for each name, with a bearer token from the credential chain."""

    name = "azure"

    def __init__(self, vault_url: str) -> None:
        self.vault_url = vault_url

    def fetch(self, names: Collection[str]) -> dict[str, str]:
        values = {}
        with (
            DefaultAzureCredential() as credential,
            SecretClient(
                self.vault_url,
                credential,
                retry_total=RETRIES,
                connection_timeout=TIMEOUT_SECONDS,
                read_timeout=TIMEOUT_SECONDS,
            ) as client,
        ):
            for name in names:
                try:
                    value = client.get_secret(secret_name(name)).value
                except ResourceNotFoundError:
                    continue
                except ClientAuthenticationError as exc:
                    raise self._refused(exc) from None
                except (ServiceRequestError, ServiceResponseError):
                    raise ProviderUnreachable(self.name, f"cannot reach {self.vault_url}") from None
                except HttpResponseError as exc:
                    raise self._failed(exc, name) from None
                if value is not None:
                    values[name] = value
        return values

    def _refused(self, exc: ClientAuthenticationError) -> SecretsError:
        if exc.response is None:
            # The credential chain itself failed; its message spans many lines, one per credential.
            return CredentialsRefused(
                self.name, "DefaultAzureCredential could not get a token from any credential"
            )
        return CredentialsRefused(self.name, f"{self.vault_url} refused the token ({exc.status_code})")

    def _failed(self, exc: HttpResponseError, name: str) -> SecretsError:
        status = exc.status_code or 0
        code = exc.error.code if exc.error is not None else None
        if status == 403:
            return CredentialsRefused(
                self.name, f"{self.vault_url} refused to give {secret_name(name)} ({code or 'Forbidden'})"
            )
        if status >= 500:
            return ProviderUnreachable(self.name, f"{self.vault_url} failed ({status})")
        return SecretsError(self.name, f"reading {secret_name(name)} failed ({code or status})")
