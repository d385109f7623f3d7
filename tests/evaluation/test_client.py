"""The eval's HTTP client against answers the service can give, served by an httpx.MockTransport.

The chat answers below are shaped as `POST /api/chat` returns them; the `grounded` and `unsupported`
fields are the ones the groundedness check adds, so the client is shown reading them when present.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from purpose_agent.evaluation.answers import Answer, Cited, Failure
from purpose_agent.evaluation.client import (
    MAX_RATE_LIMIT_WAITS,
    KeyRefused,
    ServiceClient,
    ServiceUnreachable,
)
from tests.ports import refused_url

AGENTS = [{"id": "support-agent", "name": "Support", "description": "", "knowledge_category": "support"}]


def chat_body(**fields: Any) -> dict[str, Any]:
    citation = {
        "index": 1,
        "document_id": "5b0c6f1e-4c1d-4a8e-9d61-0e5f0b7f1a11",
        "chunk_id": 42,
        "source": "errors-and-troubleshooting.md",
        "page": None,
        "heading": "Errors and troubleshooting > 413 Body or document too large",
        "snippet": "A 413 means…",
        "score": 0.61,
    }
    return {
        "answer": "A 413 means the body is too large [1].",
        "citations": [citation],
        "model_used": "openai/gpt-4o",
        "session_id": "6a0c6f1e-4c1d-4a8e-9d61-0e5f0b7f1a11",
        "usage": {"prompt_tokens": 812, "completion_tokens": 41},
        "latency_ms": 932.4,
        "abstained": False,
    } | fields


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], slept: list[float] | None = None
) -> ServiceClient:
    return ServiceClient(
        "http://service.test/",
        "pa_key",
        timeout=5,
        transport=httpx.MockTransport(handler),
        sleep=(slept if slept is not None else []).append,
    )


def test_the_agents_are_listed_with_the_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=AGENTS)

    with client_for(handler) as client:
        assert client.agents() == {"support-agent"}
    assert seen[0].url == "http://service.test/api/agents"
    assert seen[0].headers["X-API-Key"] == "pa_key"


def test_an_answer_is_read_with_its_citations_and_without_groundedness_when_absent() -> None:
    with client_for(lambda request: httpx.Response(200, json=chat_body())) as client:
        reply = client.ask("support-agent", "What does a 413 mean?")
    assert isinstance(reply, Answer)
    assert reply.citations == (
        Cited("errors-and-troubleshooting.md", "Errors and troubleshooting > 413 Body or document too large"),
    )
    assert (reply.abstained, reply.model_used, reply.grounded, reply.unsupported) == (
        False,
        "openai/gpt-4o",
        None,
        None,
    )
    assert reply.seconds > 0


def test_groundedness_is_read_when_the_service_reports_it() -> None:
    body = chat_body(grounded=False, unsupported=["It was raised to 50 MB in 2023."])
    with client_for(lambda request: httpx.Response(200, json=body)) as client:
        reply = client.ask("support-agent", "What does a 413 mean?")
    assert isinstance(reply, Answer)
    assert (reply.grounded, reply.unsupported) == (False, ("It was raised to 50 MB in 2023.",))


def test_a_rate_limited_question_waits_as_told_and_is_asked_again() -> None:
    statuses = iter([429, 429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        if status == 429:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"title": "Too Many Requests"})
        return httpx.Response(200, json=chat_body())

    slept: list[float] = []
    with client_for(handler, slept) as client:
        assert isinstance(client.ask("support-agent", "Why?"), Answer)
    assert slept == [7.0, 7.0]


def test_a_question_still_rate_limited_after_every_wait_fails_alone() -> None:
    slept: list[float] = []
    limited = httpx.Response(429, headers={"Retry-After": "soon"})
    with client_for(lambda request: limited, slept) as client:
        assert client.ask("support-agent", "Why?") == Failure(
            429, f"still rate limited after {MAX_RATE_LIMIT_WAITS} waits"
        )
    assert slept == [1.0] * MAX_RATE_LIMIT_WAITS, "an unreadable Retry-After waits one second"


@pytest.mark.parametrize(
    ("response", "failure"),
    [
        (
            httpx.Response(503, json={"title": "No model answered", "detail": "Every model failed."}),
            Failure(503, "Every model failed."),
        ),
        (httpx.Response(502, text="<html>bad gateway</html>"), Failure(502, "Bad Gateway")),
        (httpx.Response(200, text="not json"), Failure(200, "the answer is not JSON")),
        (
            httpx.Response(200, json={"answer": "hi"}),
            Failure(200, "the answer is not a chat answer (no citations list)"),
        ),
    ],
)
def test_a_question_the_service_fails_on_is_that_question_s_failure(
    response: httpx.Response, failure: Failure
) -> None:
    with client_for(lambda request: response) as client:
        assert client.ask("support-agent", "Why?") == failure


def test_an_answer_slower_than_the_timeout_fails_that_question_alone() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with client_for(handler) as client:
        assert client.ask("support-agent", "Why?") == Failure(None, "no answer within 5 s")


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_stops_the_run(status: int) -> None:
    refused = httpx.Response(status, json={"title": "Unauthorized", "detail": "The credentials are invalid."})
    with client_for(lambda request: refused) as client, pytest.raises(KeyRefused) as raised:
        client.ask("support-agent", "Why?")
    assert (
        str(raised.value)
        == f"http://service.test refused the API key ({status}: The credentials are invalid.)"
    )


def test_a_service_that_is_not_purpose_agent_is_named() -> None:
    with (
        client_for(lambda request: httpx.Response(404, text="nginx")) as client,
        pytest.raises(ServiceUnreachable) as raised,
    ):
        client.agents()
    assert (
        str(raised.value) == "http://service.test does not answer as Purpose-Agent: GET /api/agents gave 404"
    )


def test_nothing_listening_stops_the_run() -> None:
    url = refused_url()
    with ServiceClient(url, "pa_key", timeout=5) as client, pytest.raises(ServiceUnreachable) as raised:
        client.agents()
    assert str(raised.value).startswith(f"cannot reach {url}: ")
