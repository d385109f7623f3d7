"""Fake secrets backends on 127.0.0.1 that speak the real wire formats.

Vault's KV v2 read API, Secrets Manager's JSON protocol, Azure Key Vault's REST API (over TLS, with
its bearer challenge) and the App Service managed-identity token endpoint that Azure's credential
chain asks. Each records the requests it receives and can be put in a fault mode (`down`: 5xx as a
sealed Vault or a failing service). Tests drive them through the real `hvac`, `boto3` and
`azure-keyvault-secrets` + `azure-identity` clients.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.ports import free_port


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class LocalServer:
    """A Starlette app served by uvicorn on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        # (certificate, key) to serve HTTPS instead of HTTP.
        self.tls = tls
        self.port = free_port()
        self.requests: list[Recorded] = []
        self.down = False
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def routes(self) -> list[Route]:
        raise NotImplementedError

    async def record(self, request: Request) -> Recorded:
        raw = await request.body()
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            headers={key.lower(): value for key, value in request.headers.items()},
            body=json.loads(raw) if raw else {},
        )
        self.requests.append(recorded)
        return recorded

    def start(self) -> LocalServer:
        config = uvicorn.Config(
            Starlette(routes=self.routes()),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            ssl_certfile=self.tls[0] if self.tls else None,
            ssl_keyfile=self.tls[1] if self.tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None


class FakeVault(LocalServer):
    """Vault's KV v2 read API: `GET /v1/{mount}/data/{path}` with `X-Vault-Token`.

    A wrong or missing token gets 403 `permission denied`, as Vault answers; an unknown path 404.
    """

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        # (mount, path) -> the secret's key/value data.
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}

    def routes(self) -> list[Route]:
        return [Route("/v1/{mount}/data/{path:path}", self._read, methods=["GET"])]

    async def _read(self, request: Request) -> Response:
        recorded = await self.record(request)
        if self.down:
            return JSONResponse({"errors": ["Vault is sealed"]}, status_code=503)
        if recorded.headers.get("x-vault-token") != self.token:
            return JSONResponse({"errors": ["permission denied"]}, status_code=403)
        key = (request.path_params["mount"], request.path_params["path"])
        if key not in self.secrets:
            return JSONResponse({"errors": []}, status_code=404)
        metadata = {
            "created_time": "2026-01-01T00:00:00.000000Z",
            "custom_metadata": None,
            "deletion_time": "",
            "destroyed": False,
            "version": 1,
        }
        return JSONResponse(
            {
                "request_id": "00000000-0000-0000-0000-000000000000",
                "lease_id": "",
                "renewable": False,
                "lease_duration": 0,
                "data": {"data": self.secrets[key], "metadata": metadata},
                "wrap_info": None,
                "warnings": None,
                "auth": None,
            }
        )


class FakeSecretsManager(LocalServer):
    """Secrets Manager's JSON protocol: `POST /` with `X-Amz-Target: secretsmanager.GetSecretValue`.

    The request must be SigV4-signed for the secretsmanager service with `access_key_id`; another
    key gets `UnrecognizedClientException`, an unknown id `ResourceNotFoundException`, as AWS answers.
    """

    def __init__(self, access_key_id: str, region: str) -> None:
        super().__init__()
        self.access_key_id = access_key_id
        self.region = region
        # SecretId -> SecretString.
        self.secrets: dict[str, str] = {}

    def routes(self) -> list[Route]:
        return [Route("/", self._call, methods=["POST"])]

    async def _call(self, request: Request) -> Response:
        recorded = await self.record(request)
        if self.down:
            return _aws_error(500, "InternalServiceError", "An error occurred on the server side.")
        if recorded.headers.get("x-amz-target") != "secretsmanager.GetSecretValue":
            return _aws_error(400, "UnknownOperationException", "Unknown operation")
        scope = f"Credential={self.access_key_id}/"
        authorization = recorded.headers.get("authorization", "")
        signed_for = f"/{self.region}/secretsmanager/aws4_request"
        if not authorization.startswith("AWS4-HMAC-SHA256 " + scope) or signed_for not in authorization:
            return _aws_error(
                400, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        secret_id = recorded.body.get("SecretId", "")
        if secret_id not in self.secrets:
            return _aws_error(
                400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."
            )
        return JSONResponse(
            {
                "ARN": f"arn:aws:secretsmanager:{self.region}:123456789012:secret:{secret_id}-AbCdEf",
                "Name": secret_id,
                "VersionId": "00000000-0000-0000-0000-000000000001",
                "SecretString": self.secrets[secret_id],
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1767225600.0,
            },
            media_type="application/x-amz-json-1.1",
        )


def _aws_error(status: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"__type": code, "message": message},
        status_code=status,
        headers={"x-amzn-ErrorType": code},
        media_type="application/x-amz-json-1.1",
    )


class FakeKeyVault(LocalServer):
    """Key Vault's `GET /secrets/{name}?api-version=...`, over TLS, behind its bearer challenge.

    A request without the accepted token gets 401 with the `WWW-Authenticate` challenge the SDK
    discovers its token scope from; a secret in `forbidden` gets 403 (an access policy without get),
    an unknown one 404 `SecretNotFound`.
    """

    def __init__(self, tls: tuple[Path, Path], accepted_token: str) -> None:
        super().__init__(tls)
        self.accepted_token = accepted_token
        self.secrets: dict[str, str] = {}
        self.forbidden: set[str] = set()

    @property
    def resource(self) -> str:
        # The SDK checks that the vault's host lies under the challenge's resource domain (for the
        # real service: x.vault.azure.net under vault.azure.net); "0.0.1:port" holds "127.0.0.1:port".
        return f"https://0.0.1:{self.port}"

    def routes(self) -> list[Route]:
        return [
            Route("/secrets/{name}", self._get, methods=["GET"]),
            Route("/secrets/{name}/{version}", self._get, methods=["GET"]),
        ]

    async def _get(self, request: Request) -> Response:
        response = await self._answer(request)
        # azure-core keeps the connection of an error response checked out until its exception is
        # garbage-collected, and that open TLS connection would hold the server's shutdown: one
        # connection per request (the real service keeps them alive; the SDK copes with both).
        response.headers["Connection"] = "close"
        return response

    async def _answer(self, request: Request) -> Response:
        recorded = await self.record(request)
        if self.down:
            return _azure_error(503, "ServiceUnavailable", "The service is unavailable.")
        if recorded.headers.get("authorization") != f"Bearer {self.accepted_token}":
            authority = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000"
            challenge = f'Bearer authorization="{authority}", resource="{self.resource}"'
            response = _azure_error(
                401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."
            )
            response.headers["WWW-Authenticate"] = challenge
            return response
        name = request.path_params["name"]
        if name in self.forbidden:
            return _azure_error(403, "Forbidden", "The user does not have secrets get permission.")
        if name not in self.secrets:
            return _azure_error(
                404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault."
            )
        return JSONResponse(
            {
                "value": self.secrets[name],
                "id": f"{self.url}/secrets/{name}/0123456789abcdef0123456789abcdef",
                "attributes": {
                    "enabled": True,
                    "created": 1767225600,
                    "updated": 1767225600,
                    "recoveryLevel": "Recoverable+Purgeable",
                },
            }
        )


class FakeManagedIdentity(LocalServer):
    """App Service's managed-identity endpoint (IDENTITY_ENDPOINT, 2019-08-01): a token per resource."""

    def __init__(self, identity_header: str, token: str) -> None:
        super().__init__()
        self.identity_header = identity_header
        self.token = token

    @property
    def endpoint(self) -> str:
        return f"{self.url}/msi/token"

    def routes(self) -> list[Route]:
        return [Route("/msi/token", self._token, methods=["GET"])]

    async def _token(self, request: Request) -> Response:
        recorded = await self.record(request)
        if recorded.headers.get("x-identity-header") != self.identity_header:
            return JSONResponse({"statusCode": 401, "message": "Unauthorized"}, status_code=401)
        return JSONResponse(
            {
                "access_token": self.token,
                "expires_on": str(int(time.time()) + 3600),
                "resource": request.query_params.get("resource", ""),
                "token_type": "Bearer",
            }
        )


def _azure_error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
