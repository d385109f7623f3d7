"""The OpenAPI document says every answer an operation can give, each with the media type it is sent in.

FastAPI documents what a route declares, and two things it does not see: the middleware around the
routes, and our own error handlers. Left alone, the document promises a JSON `HTTPValidationError` for
a 422 that leaves as a problem, and says nothing of the 401 and 403 of authentication, the 413 of the
body limit, the 400 of a malformed body, the 429 of the rate limits or the 503 of a busy server, so a
client generated from it (or schemathesis, which `tests/hostile` runs over it) meets answers it was
never told of. Here the document is completed once, when it is first built:

- every error response is `application/problem+json` with the `Problem` schema (a route's error
  declared in another media type, such as MCP's JSON-RPC errors, is left as it is);
- an operation with a body may answer 400 (malformed, or a value the database cannot store) and 413
  (too large); one with parameters 400 (that value) and, as FastAPI says, 422; an authenticated one
  401 and 403, and it names the two security schemes (an API key in X-API-Key, or a key or token as
  a bearer); every one but the rate-limit exempt 429; every one but liveness 503 (its database
  unreachable, or more work waiting than it takes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from purpose_agent.kit.problems import PROBLEM_CONTENT_TYPE, Problem

PROBLEM_REF = "#/components/schemas/Problem"
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "An API key or an access token."},
}
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
# FastAPI's own validation schemas, which no answer of ours has.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")

_BODY_PROBLEMS = {400: "Malformed body, or a value that cannot be stored", 413: "Body too large"}
_VALUE_PROBLEMS = {400: "A value that cannot be stored"}
_AUTH_PROBLEMS = {401: "Missing or invalid credentials", 403: "Not allowed for this principal"}
_LIMITED = {429: "Too many requests: retry after Retry-After seconds"}
_UNAVAILABLE = {503: "Unavailable for a moment (database, or more work than the server takes): retry"}


def complete_openapi(
    app: FastAPI,
    *,
    authenticates: Callable[[Callable[..., Any]], bool],
    rate_limit_exempt: Callable[[str], bool],
    liveness_paths: frozenset[str],
) -> None:
    """Have `app.openapi()` document the answers of middleware and error handlers too.

    `authenticates(dependency)` tells which dependency establishes the caller; `rate_limit_exempt(path)`
    which paths are never limited; `liveness_paths` those that answer without touching a dependency."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            authenticated = _authenticated_operations(app.routes, authenticates)
            _complete(document, authenticated, rate_limit_exempt, liveness_paths)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it


def _complete(
    document: dict[str, Any],
    authenticated: set[tuple[str, str]],
    rate_limit_exempt: Callable[[str], bool],
    liveness_paths: frozenset[str],
) -> None:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _HTTP_METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    _as_problem(response)
            added: dict[int, str] = {}
            if "requestBody" in operation:
                added |= _BODY_PROBLEMS
            elif operation.get("parameters"):
                added |= _VALUE_PROBLEMS
            if (method, path) in authenticated:
                added |= _AUTH_PROBLEMS
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
            if not rate_limit_exempt(path):
                added |= _LIMITED
            if path not in liveness_paths:
                added |= _UNAVAILABLE
            for code, description in added.items():
                responses.setdefault(str(code), _problem(description))
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
    components["securitySchemes"] = SECURITY_SCHEMES
    _drop_unreferenced(components["schemas"], document)


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}}


def _as_problem(response: dict[str, Any]) -> None:
    """An error documented by FastAPI (its validation error, or a problem repeated as plain JSON)
    becomes the problem it is; an error in a media type of its own stays."""
    content: dict[str, Any] = response.get("content", {})
    schemas = {str(media.get("schema", {}).get("$ref", "")) for media in content.values()}
    ours = {PROBLEM_REF} | {f"#/components/schemas/{name}" for name in _FASTAPI_VALIDATION}
    if not content or PROBLEM_CONTENT_TYPE in content or schemas <= ours:
        response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}


def _drop_unreferenced(schemas: dict[str, Any], document: dict[str, Any]) -> None:
    """FastAPI's validation schemas, once no operation refers to them any more."""
    if not any(ref.endswith("/HTTPValidationError") for ref in _refs(document["paths"])):
        for name in _FASTAPI_VALIDATION:
            schemas.pop(name, None)


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _authenticated_operations(
    routes: Sequence[BaseRoute], authenticates: Callable[[Callable[..., Any]], bool]
) -> set[tuple[str, str]]:
    return {
        (method.lower(), route.path)
        for route in api_routes(routes)
        if _depends_on(route.dependant, authenticates)
        for method in route.methods or ()
    }


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, through the routers FastAPI includes lazily (each router holds full paths)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from api_routes(included.routes)


def _depends_on(dependant: Dependant, wanted: Callable[[Callable[..., Any]], bool]) -> bool:
    return any(
        (dependency.call is not None and wanted(dependency.call)) or _depends_on(dependency, wanted)
        for dependency in dependant.dependencies
    )
