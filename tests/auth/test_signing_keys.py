"""Signing keys rotated in a running token service: HS256 and RS256, how long a retired key is kept,
and a rotated key the start would have refused."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from purpose_agent.auth.signing_keys import MOST_RETIRED_KEYS
from purpose_agent.auth.tokens import InvalidToken, TokenPolicy, TokenService
from purpose_agent.composition import rotate_signing_key, token_service
from purpose_agent.settings import AppEnv, Settings
from tests.auth.test_tokens import rsa_pair
from tests.conftest import LogCapture

TTL = 900
LEEWAY = 30


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def hs256(clock: Clock, secret: str) -> TokenService:
    policy = TokenPolicy(
        algorithm="HS256",
        issuer="i",
        audience="a",
        ttl_seconds=TTL,
        leeway_seconds=LEEWAY,
        signing_key=secret,
        verifying_key=secret,
    )
    return TokenService(policy, clock=clock)


def issued(service: TokenService, now: datetime | None = None) -> str:
    return service.issue(subject="user:1", role="user", name="n", now=now or datetime.now(UTC)).token


def kid(token: str) -> str:
    found: str = jwt.get_unverified_header(token)["kid"]
    return found


async def test_a_retired_key_verifies_until_its_tokens_have_expired_then_is_dropped() -> None:
    clock = Clock()
    service = hs256(clock, secrets.token_urlsafe(48))
    old = issued(service)
    assert service.rotate(secrets.token_urlsafe(48))
    new = issued(service)
    assert kid(new) != kid(old) == kid(issued(hs256(Clock(), service.policy.signing_key or "")))

    clock.now += TTL + LEEWAY - 1
    assert (await service.verify(old)).subject == "user:1"

    clock.now += 2
    with pytest.raises(InvalidToken):
        await service.verify(old)
    assert (await service.verify(new)).subject == "user:1"


async def test_rotating_to_the_current_key_changes_nothing_and_few_retired_keys_are_kept() -> None:
    clock = Clock()
    first = secrets.token_urlsafe(48)
    service = hs256(clock, first)
    assert not service.rotate(first)
    tokens = [issued(service)]
    for _ in range(MOST_RETIRED_KEYS + 1):
        service.rotate(secrets.token_urlsafe(48))
        tokens.append(issued(service))
    with pytest.raises(InvalidToken):
        await service.verify(tokens[0])
    for token in tokens[1:]:
        assert (await service.verify(token)).subject == "user:1"


async def test_a_token_without_a_kid_is_checked_under_every_accepted_key() -> None:
    """As tokens issued before keys had ids: checked under the current key and the retired ones."""
    clock = Clock()
    first = secrets.token_urlsafe(48)
    service = hs256(clock, first)
    now = datetime.now(UTC)
    claims = {
        "sub": "user:2",
        "iss": "i",
        "aud": "a",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
    }
    service.rotate(secrets.token_urlsafe(48))
    assert (await service.verify(jwt.encode(claims, first, algorithm="HS256"))).subject == "user:2"
    with pytest.raises(InvalidToken):
        await service.verify(jwt.encode(claims, secrets.token_urlsafe(48), algorithm="HS256"))
    expired = claims | {"exp": now - timedelta(minutes=5)}
    with pytest.raises(InvalidToken) as caught:
        await service.verify(jwt.encode(expired, first, algorithm="HS256"))
    assert caught.value.expired, "the right key found, then the claims checked"


async def test_rs256_rotates_its_private_key_and_verifies_with_the_public_key_derived_from_it() -> None:
    private, public = rsa_pair()
    service = TokenService(
        TokenPolicy(algorithm="RS256", issuer="i", audience="a", signing_key=private, verifying_key=public),
        clock=Clock(),
    )
    old = issued(service)
    rotated, rotated_public = rsa_pair()
    assert service.rotate(rotated)
    new = issued(service)
    assert kid(new) != kid(old)
    assert jwt.decode(new, rotated_public, algorithms=["RS256"], audience="a")["sub"] == "user:1"
    assert (await service.verify(old)).subject == "user:1"

    with pytest.raises((ValueError, jwt.InvalidKeyError)):
        service.rotate("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises((ValueError, jwt.InvalidKeyError)):
        service.rotate(rotated_public)
    assert service.current_kid == kid(new), "a refused key changes nothing"


def test_in_production_a_rotated_secret_the_start_would_refuse_is_not_used(
    settings: Settings, logs: LogCapture
) -> None:
    configured = settings.changed(app_env=AppEnv.production, jwt_secret=secrets.token_urlsafe(48))
    service = token_service(configured)
    current = service.current_kid
    rotate_signing_key(configured, service, {"JWT_SECRET": "too-short"})
    assert service.current_kid == current
    [refused] = [record for record in logs.records() if record["event"] == "token_signing_key_refused"]
    assert (refused["variable"], refused["reason"]) == ("JWT_SECRET", "JWT_SECRET is shorter than 32 bytes")
    assert "too-short" not in logs.text

    rotate_signing_key(configured, service, {"JWT_SECRET": secrets.token_urlsafe(48)})
    assert service.current_kid != current
