"""Every route of the OpenAPI schema declares who may call it, and says 401 and 403 as it should.

PROPERTIES 24: every route but the public ones answers 401 without credentials and 403 with too
weak a role. The role each route needs is read from its own dependencies, so a new route that
forgets to declare one fails here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from httpx import AsyncClient

from purpose_agent.auth.principal import Role
from purpose_agent.kit.openapi import api_routes

PUBLIC = {("GET", "/health"), ("GET", "/health/ready"), ("POST", "/api/auth/token")}


def required_role(dependant: Dependant) -> Role | None:
    for dependency in dependant.dependencies:
        call: Callable[..., Any] | None = dependency.call
        role = getattr(call, "required_role", None)
        if isinstance(role, Role):
            return role
        if (found := required_role(dependency)) is not None:
            return found
    return None


def concrete(path: str) -> str:
    """The route's path with a plausible value in each parameter."""
    values = {
        "document_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "key_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "job_id": "1",
    }
    return re.sub(r"\{(\w+)\}", lambda match: values.get(match.group(1), "some-name"), path)


def routes(app: FastAPI) -> list[tuple[str, str, Role | None]]:
    schema = app.openapi()["paths"]
    found = []
    for route in api_routes(app.routes):
        for method in sorted(route.methods or ()):
            if method.lower() in schema.get(route.path, {}):
                found.append((method, route.path, required_role(route.dependant)))
    assert {(m.upper(), p) for p, ops in schema.items() for m in ops} == {(m, p) for m, p, _ in found}
    return found


async def test_every_route_but_the_public_ones_declares_a_role(app: FastAPI) -> None:
    undeclared = [(m, p) for m, p, role in routes(app) if role is None and (m, p) not in PUBLIC]
    assert undeclared == []
    assert {(m, p) for m, p, role in routes(app) if role is None} == PUBLIC


async def test_without_credentials_401_and_with_too_weak_a_role_403(
    app: FastAPI, anonymous_client: AsyncClient, user_client: AsyncClient
) -> None:
    checked = 0
    for method, path, role in routes(app):
        if role is None:
            continue
        url = concrete(path)
        anonymous = await anonymous_client.request(method, url, json={})
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["content-type"] == "application/problem+json"
        if role is Role.admin:
            weak = await user_client.request(method, url, json={})
            assert weak.status_code == 403, (method, path)
        checked += 1
    assert checked >= 25
