"""Users sign in for tokens; every kind of bad token is the same 401; failed sign-ins are throttled."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from jwt.utils import base64url_encode
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.audit.models import AuditEntry
from purpose_agent.auth.tokens import InvalidToken, TokenPolicy, TokenService
from purpose_agent.settings import Settings
from tests.app_context import context
from tests.conftest import api_client

PASSWORD = "correct horse battery staple"


async def new_user(client: AsyncClient, role: str = "user") -> str:
    username = f"user-{uuid.uuid4().hex[:10]}"
    response = await client.post(
        "/api/admin/users", json={"username": username, "password": PASSWORD, "role": role}
    )
    assert response.status_code == 201, response.text
    assert "password" not in response.text
    return username


# Failed sign-ins are counted per address too, in the Redis every test run shares: one address a run.
ADDRESS = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"


def from_address(app: FastAPI) -> AsyncClient:
    transport = ASGITransport(app=app, raise_app_exceptions=False, client=(ADDRESS, 40000))
    return AsyncClient(transport=transport, base_url="http://testserver")


async def sign_in(app: FastAPI, username: str, password: str = PASSWORD) -> tuple[int, dict[str, Any]]:
    async with from_address(app) as anonymous:
        response = await anonymous.post("/api/auth/token", json={"username": username, "password": password})
    return response.status_code, response.json()


async def test_a_user_signs_in_and_the_token_carries_their_role(app: FastAPI, client: AsyncClient) -> None:
    username = await new_user(client)
    status, body = await sign_in(app, username.upper())  # usernames are case-insensitive
    assert status == 200
    assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with api_client(app) as bearer:
        assert (await bearer.get("/api/agents", headers=headers)).status_code == 200
        assert (await bearer.get("/api/personas", headers=headers)).status_code == 403
        me = (await bearer.get("/api/auth/me", headers=headers)).json()
    assert (me["name"], me["role"]) == (username, "user")
    assert me["id"].startswith("user:")


async def test_a_disabled_user_s_token_is_refused_at_once(app: FastAPI, client: AsyncClient) -> None:
    username = await new_user(client)
    _, body = await sign_in(app, username)
    [user] = [
        u
        for u in (await client.get("/api/admin/users", params={"limit": 100})).json()["items"]
        if u["username"] == username
    ]
    assert (await client.patch(f"/api/admin/users/{user['id']}", json={"disabled": True})).status_code == 200
    async with api_client(app) as bearer:
        response = await bearer.get(
            "/api/agents", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
    assert response.status_code == 401
    assert (await sign_in(app, username))[0] == 401


def forged(settings: Settings, **changes: Any) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "someone",
        "role": "admin",
        "iss": settings.security.jwt_issuer,
        "aud": settings.security.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        **changes.pop("claims", {}),
    }
    return jwt.encode(
        claims,
        changes.pop("key", "another-secret-that-is-at-least-32-bytes-long"),
        algorithm=changes.pop("alg", "HS256"),
    )


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def test_bad_tokens_are_all_the_same_invalid_401(app: FastAPI, settings: Settings) -> None:
    secret = context(app).tokens.policy.signing_key
    now = datetime.now(UTC)
    far = int((now + timedelta(minutes=5)).timestamp())
    unsigned_claims = {
        "sub": "x",
        "role": "admin",
        "iss": settings.security.jwt_issuer,
        "aud": settings.security.jwt_audience,
    }
    header = base64url_encode(b'{"alg":"none","typ":"JWT"}')
    body = base64url_encode(json.dumps(unsigned_claims | {"iat": 0, "nbf": 0, "exp": far}).encode())
    unsigned = (header + b"." + body + b".").decode()
    tokens = {
        "alg none": unsigned,
        "another key": forged(settings),
        "expired": forged(
            settings,
            key=secret,
            claims={
                "exp": now - timedelta(minutes=5),
                "iat": now - timedelta(hours=1),
                "nbf": now - timedelta(hours=1),
            },
        ),
        "not yet valid": forged(settings, key=secret, claims={"nbf": now + timedelta(minutes=10)}),
        "wrong audience": forged(settings, key=secret, claims={"aud": "someone-else"}),
        "wrong issuer": forged(settings, key=secret, claims={"iss": "evil"}),
        "malformed": "abc.def.ghi",
    }
    async with api_client(app) as client:
        for name, token in tokens.items():
            response = await client.get("/api/agents", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, name
            assert response.json()["detail"] == "The credentials are invalid.", name
        good = forged(settings, key=secret)
        assert (
            await client.get("/api/personas", headers={"Authorization": f"Bearer {good}"})
        ).status_code == 200


def hs256_signed_with(secret: bytes, claims: dict[str, Any]) -> str:
    """An HS256 token made by hand: PyJWT itself refuses a PEM key as an HMAC secret."""
    header = base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    payload = base64url_encode(json.dumps(claims).encode())
    signature = base64url_encode(hmac.new(secret, header + b"." + payload, hashlib.sha256).digest())
    return (header + b"." + payload + b"." + signature).decode()


async def test_rs256_refuses_an_hs256_token_signed_with_the_public_key() -> None:
    """The algorithm confusion attack: the public key, used as an HMAC secret."""
    private, public = rsa_pair()
    service = TokenService(
        TokenPolicy(algorithm="RS256", issuer="i", audience="a", signing_key=private, verifying_key=public)
    )
    issued = service.issue(subject="user:1", role="user", name="n", now=datetime.now(UTC))
    assert (await service.verify(issued.token)).subject == "user:1"
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": "admin",
        "role": "admin",
        "iss": "i",
        "aud": "a",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    with pytest.raises(InvalidToken):
        await service.verify(hs256_signed_with(public.encode(), claims))


async def test_failed_sign_ins_are_throttled_per_username_with_retry_after(
    app: FastAPI, client: AsyncClient
) -> None:
    username = await new_user(client)
    for _ in range(5):
        status, body = await sign_in(app, username, "wrong password here")
        assert (status, body["detail"]) == (401, "The username or password is wrong.")
    status, body = await sign_in(app, username)  # even the right password, while throttled
    assert status == 429
    assert body["type"] == "/problems/login-throttled"
    async with from_address(app) as anonymous:
        response = await anonymous.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert int(response.headers["retry-after"]) >= 1


async def test_weak_passwords_and_taken_names_are_refused(client: AsyncClient) -> None:
    short = await client.post("/api/admin/users", json={"username": "shorty", "password": "abc"})
    assert (short.status_code, short.json()["type"]) == (422, "/problems/weak-password")
    username = await new_user(client)
    taken = await client.post("/api/admin/users", json={"username": username, "password": PASSWORD})
    assert taken.status_code == 409


async def test_sign_ins_and_key_writes_are_audited_without_secrets(
    app: FastAPI, client: AsyncClient, session: AsyncSession
) -> None:
    username = await new_user(client)
    assert (await sign_in(app, username))[0] == 200
    created = (await client.post("/api/keys", json={"name": "ci", "role": "user"})).json()
    assert (await client.delete(f"/api/keys/{created['id']}")).status_code == 204
    entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    actions = [(e.action, e.outcome) for e in entries]
    assert ("user.create", "ok") in actions
    assert ("auth.login", "ok") in actions
    assert ("key.create", "ok") in actions
    assert ("key.revoke", "ok") in actions
    stored = " ".join(f"{e.actor} {e.target} {e.details}" for e in entries)
    assert created["key"] not in stored
    assert PASSWORD not in stored
