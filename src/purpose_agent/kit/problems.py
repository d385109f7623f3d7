"""Problem details (RFC 9457): the one shape every error response takes.

Exception tree:

    ProblemError            an expected failure, raised by services; leaves as its own status
      ├── NotFound          404
      ├── Conflict          409
      └── ServiceUnavailable 503

Anything else that escapes a route is a bug: it leaves as a 500 problem whose detail never
shows the internal message (see `kit.request_context`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response
from starlette.types import Scope

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "/problems/"


class Problem(BaseModel):
    """The schema of every error body, for the OpenAPI document."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str


class ProblemError(Exception):
    """An expected failure that leaves the API as a problem with its own status and title."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad Request"
    # The last part of the problem's `type` URI; "about:blank" when None (plain HTTP meaning).
    slug: ClassVar[str | None] = None
    # Its schema in the OpenAPI document: a subclass of Problem naming its extension members, if any.
    schema: ClassVar[type[Problem]] = Problem

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}


class NotFound(ProblemError):
    status = 404
    title = "Not Found"


class Conflict(ProblemError):
    status = 409
    title = "Conflict"


class ServiceUnavailable(ProblemError):
    status = 503
    title = "Service Unavailable"


def problem_type(slug: str | None) -> str:
    """The `type` URI of a problem: a project path for our own kinds, about:blank for plain HTTP ones."""
    return f"{PROBLEM_TYPE_BASE}{slug}" if slug else "about:blank"


def status_title(status: int) -> str:
    """The standard reason phrase of an HTTP status, used as the title of about:blank problems."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    *,
    status: int,
    title: str,
    detail: str,
    instance: str,
    request_id: str,
    slug: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON object of a problem; extensions never overwrite the standard members."""
    body: dict[str, Any] = dict(extensions or {})
    body.update(
        type=problem_type(slug),
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        request_id=request_id,
    )
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A response carrying a problem body with the problem media type."""
    return Response(
        content=orjson.dumps(body),
        status_code=int(body["status"]),
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def problem_responses(*errors: type[ProblemError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for a route that may raise these problems."""
    return {
        error.status: {
            "model": error.schema,
            "description": error.title,
            "content": {
                PROBLEM_CONTENT_TYPE: {"schema": {"$ref": f"#/components/schemas/{error.schema.__name__}"}}
            },
        }
        for error in errors
    }


def scope_problem(
    scope: Scope,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    slug: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A problem body for the request in `scope`, for code that runs outside FastAPI's handlers."""
    state = scope.get("state") or {}
    return problem_body(
        status=status,
        title=title or status_title(status),
        detail=detail,
        instance=str(scope.get("path", "")),
        request_id=str(state.get("request_id", "")),
        slug=slug,
        extensions=extensions,
    )
