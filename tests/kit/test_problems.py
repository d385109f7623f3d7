"""Every error leaves as application/problem+json with the standard members and the request id."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import BaseModel, Field

from purpose_agent.kit.problems import Conflict, problem_responses
from tests.conftest import LogCapture

STANDARD_MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= STANDARD_MEMBERS
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


class Greeting(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    times: int = Field(ge=1, le=3)


class NameTaken(Conflict):
    title = "Name taken"
    slug = "name-taken"


@pytest.fixture
def routes(app: FastAPI) -> FastAPI:
    """A few routes of the shape domain packages add, to drive each kind of error."""

    @app.post("/test/greetings", responses=problem_responses(NameTaken))
    async def greet(data: Greeting) -> dict[str, str]:
        if data.name == "taken":
            raise NameTaken("The name 'taken' is already used.", name=data.name)
        return {"greeting": f"hello {data.name}"}

    @app.get("/test/crash")
    async def crash() -> None:
        raise RuntimeError("connection to db-internal.example:5432 failed with password hunter2")

    return app


async def test_unknown_route_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.get("/no/such/route")
    body = assert_problem(response, 404)
    assert body["instance"] == "/no/such/route"
    assert body["title"] == "Not Found"


async def test_wrong_method_is_a_405_problem_with_allow(client: AsyncClient) -> None:
    response = await client.delete("/health")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


async def test_malformed_json_is_a_400_problem(routes: FastAPI, client: AsyncClient) -> None:
    response = await client.post(
        "/test/greetings", content=b'{"name": "ada", ', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert body["title"] == "Malformed JSON"


async def test_validation_errors_list_each_field(routes: FastAPI, client: AsyncClient) -> None:
    response = await client.post("/test/greetings", json={"name": "", "times": 9})
    body = assert_problem(response, 422)
    fields = {error["field"]: error["message"] for error in body["errors"]}
    assert set(fields) == {"body.name", "body.times"}
    assert "at least 1 character" in fields["body.name"]
    assert "less than or equal to 3" in fields["body.times"]


async def test_domain_error_keeps_its_status_title_and_extensions(
    routes: FastAPI, client: AsyncClient
) -> None:
    response = await client.post("/test/greetings", json={"name": "taken", "times": 1})
    body = assert_problem(response, 409)
    assert body["title"] == "Name taken"
    assert body["type"] == "/problems/name-taken"
    assert body["name"] == "taken"


async def test_success_is_untouched(routes: FastAPI, client: AsyncClient) -> None:
    response = await client.post("/test/greetings", json={"name": "ada", "times": 2})
    assert response.status_code == 200
    assert response.json() == {"greeting": "hello ada"}


async def test_unhandled_error_is_a_500_problem_without_internals(
    routes: FastAPI, client: AsyncClient, logs: LogCapture
) -> None:
    response = await client.get("/test/crash", headers={"X-Request-ID": "crash-1"})
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "db-internal" not in response.text
    assert body["request_id"] == "crash-1"

    errors = [record for record in logs.records() if record["event"] == "unhandled_error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "crash-1"
    assert "RuntimeError" in errors[0]["exception"]
    assert "Traceback" in errors[0]["exception"]
    # The stack is logged, but the password it carried is redacted on the way to the sink.
    assert "hunter2" not in logs.text


async def test_declared_body_over_the_limit_is_a_413_problem(routes: FastAPI, client: AsyncClient) -> None:
    oversized = b'{"name": "' + b"a" * 1_100_000 + b'", "times": 1}'
    response = await client.post(
        "/test/greetings", content=oversized, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 413)
    assert "1048576" in body["detail"]


async def test_streamed_body_over_the_limit_is_a_413_problem(routes: FastAPI, client: AsyncClient) -> None:
    async def chunks() -> Any:
        yield b'{"name": "'
        for _ in range(20):
            yield b"a" * 65_536
        yield b'", "times": 1}'

    response = await client.post(
        "/test/greetings", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_openapi_documents_the_problem_schema(routes: FastAPI, client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "Problem" in schema["components"]["schemas"]
    conflict = schema["paths"]["/test/greetings"]["post"]["responses"]["409"]
    assert "application/problem+json" in conflict["content"]
