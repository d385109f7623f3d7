"""The one place where exceptions become `application/problem+json` responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from purpose_agent.kit.executor import ExecutorBusy
from purpose_agent.kit.problems import ProblemError, problem_body, problem_response, status_title

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]

# Detail texts for statuses whose framework default says little to an API client.
_DEFAULT_DETAILS = {
    404: "No resource exists at this path.",
    405: "This path does not accept this method; the Allow header lists the ones it does.",
}


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Each invalid field as `{field, message, type}`, the field as a dotted path like `body.question`."""
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]


async def _handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    body = problem_body(
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        request_id=_request_id(request),
        slug=exc.slug,
        extensions=exc.extensions,
    )
    return problem_response(body, headers=exc.headers)


async def _handle_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc)
    if any(error["type"] == "json_invalid" for error in errors):
        body = problem_body(
            status=400,
            title="Malformed JSON",
            detail="The request body is not valid JSON.",
            instance=request.url.path,
            request_id=_request_id(request),
            slug="malformed-json",
            extensions={"errors": errors},
        )
    else:
        fields = ", ".join(error["field"] for error in errors)
        body = problem_body(
            status=422,
            title="Validation failed",
            detail=f"Some fields are invalid: {fields}.",
            instance=request.url.path,
            request_id=_request_id(request),
            slug="validation-error",
            extensions={"errors": errors},
        )
    return problem_response(body)


async def _handle_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    title = status_title(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else ""
    body = problem_body(
        status=exc.status_code,
        title=title,
        detail=detail or _DEFAULT_DETAILS.get(exc.status_code, title),
        instance=request.url.path,
        request_id=_request_id(request),
    )
    return problem_response(body, headers=dict(exc.headers or {}))


def retry_later(title: str, detail: str, slug: str, retry_after: str = "1") -> ExceptionHandler:
    """A handler answering 503 with this problem and Retry-After: a condition that passes by itself."""

    async def handle(request: Request, exc: Exception) -> Response:
        body = problem_body(
            status=503,
            title=title,
            detail=detail,
            instance=request.url.path,
            request_id=_request_id(request),
            slug=slug,
        )
        return problem_response(body, headers={"Retry-After": retry_after})

    return handle


def install_problem_handlers(app: FastAPI) -> None:
    """Route every expected error kind through the problem format; bugs are left to the request guard."""
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(
        ExecutorBusy,
        retry_later(
            "Server busy",
            "This server has more work waiting than it takes at once; retry in a moment.",
            "server-busy",
        ),
    )
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(HTTPException, _handle_http)
