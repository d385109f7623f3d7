"""HashiCorp Vault: one KV version 2 secret whose keys are variable names, read with `hvac`."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests

from purpose_agent.secrets.errors import (
    CredentialsRefused,
    ProviderMisconfigured,
    ProviderUnreachable,
    SecretMalformed,
    SecretNotFound,
)
from purpose_agent.secrets.provider import pick_strings

TIMEOUT_SECONDS = 10


class VaultProvider:
    """`GET {addr}/v1/{mount}/data/{path}` with the token from VAULT_TOKEN or VAULT_TOKEN_FILE."""

    name = "vault"

    def __init__(
        self, addr: str, *, token: str | None, token_file: Path | None, mount: str, path: str
    ) -> None:
        self.addr = addr
        self.token = token
        self.token_file = token_file
        self.mount = mount
        self.path = path

    def fetch(self, names: Collection[str]) -> dict[str, str]:
        client = hvac.Client(url=self.addr, token=self._token(), timeout=TIMEOUT_SECONDS)
        where = f"{self.mount}/{self.path}"
        try:
            response = client.secrets.kv.v2.read_secret_version(
                path=self.path, mount_point=self.mount, raise_on_deleted_version=True
            )
        except (hvac.exceptions.Unauthorized, hvac.exceptions.Forbidden):
            raise CredentialsRefused(self.name, f"{self.addr} refused the token for {where}") from None
        except hvac.exceptions.InvalidPath:
            raise SecretNotFound(self.name, f"no KV v2 secret at {where} on {self.addr}") from None
        except hvac.exceptions.VaultError as exc:
            raise ProviderUnreachable(self.name, f"{self.addr} failed: {type(exc).__name__}") from None
        except requests.exceptions.RequestException as exc:
            raise ProviderUnreachable(self.name, f"cannot reach {self.addr}: {_why(exc)}") from None
        finally:
            client.adapter.close()
        return self._values(response, where, names)

    def _token(self) -> str:
        if self.token_file is None:
            return self.token or ""
        # Read at each fetch: an agent (Vault Agent, a Kubernetes projection) may have renewed it.
        try:
            return self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ProviderMisconfigured(
                self.name, f"cannot read VAULT_TOKEN_FILE {self.token_file}: {exc.strerror}"
            ) from None

    def _values(self, response: Any, where: str, names: Collection[str]) -> dict[str, str]:
        data = response.get("data", {}).get("data") if isinstance(response, dict) else None
        if not isinstance(data, dict):
            raise SecretMalformed(self.name, f"the answer for {where} holds no KV v2 data")
        return pick_strings(self.name, where, data, names)


def _why(exc: requests.exceptions.RequestException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within {TIMEOUT_SECONDS} seconds"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed"
    return type(exc).__name__
