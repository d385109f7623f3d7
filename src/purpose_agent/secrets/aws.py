"""AWS Secrets Manager: one secret whose SecretString is a JSON object of variable names to values."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from purpose_agent.secrets.errors import (
    CredentialsRefused,
    ProviderMisconfigured,
    ProviderUnreachable,
    SecretMalformed,
    SecretNotFound,
    SecretsError,
)
from purpose_agent.secrets.provider import pick_strings

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

TIMEOUT_SECONDS = 10
# Error codes with which AWS refuses who we are or what we may read.
REFUSED_CODES = frozenset(
    {
        "AccessDeniedException",
        "DecryptionFailure",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "UnrecognizedClientException",
    }
)


class AwsProvider:
    """`GetSecretValue(SecretId)`, with credentials from boto3's usual chain (environment, profile, role)."""

    name = "aws"

    def __init__(self, secret_id: str, *, region: str, endpoint_url: str | None = None) -> None:
        self.secret_id = secret_id
        self.region = region
        self.endpoint_url = endpoint_url

    def fetch(self, names: Collection[str]) -> dict[str, str]:
        client = self._client()
        try:
            response = client.get_secret_value(SecretId=self.secret_id)
        except ClientError as exc:
            raise self._refusal(exc) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise ProviderMisconfigured(self.name, "boto3 found no usable AWS credentials") from None
        except BotoCoreError as exc:
            where = self.endpoint_url or f"Secrets Manager in {self.region}"
            raise ProviderUnreachable(self.name, f"cannot reach {where}: {type(exc).__name__}") from None
        finally:
            client.close()
        text = response.get("SecretString")
        if text is None:
            raise SecretMalformed(self.name, f"secret {self.secret_id} has no SecretString")
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SecretMalformed(self.name, f"the SecretString of {self.secret_id} is not a JSON object")
        return pick_strings(self.name, f"secret {self.secret_id}", data, names)

    def _client(self) -> SecretsManagerClient:
        config = Config(
            connect_timeout=TIMEOUT_SECONDS,
            read_timeout=TIMEOUT_SECONDS,
            retries={"mode": "standard", "total_max_attempts": 2},
        )
        return boto3.session.Session().client(
            "secretsmanager", region_name=self.region, endpoint_url=self.endpoint_url, config=config
        )

    def _refusal(self, exc: ClientError) -> SecretsError:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in REFUSED_CODES:
            return CredentialsRefused(self.name, f"AWS refused the credentials for {self.secret_id} ({code})")
        if code == "ResourceNotFoundException":
            return SecretNotFound(self.name, f"no secret {self.secret_id} in {self.region}")
        if status >= 500:
            return ProviderUnreachable(self.name, f"Secrets Manager failed ({code or status})")
        return SecretsError(self.name, f"GetSecretValue for {self.secret_id} failed ({code or status})")
