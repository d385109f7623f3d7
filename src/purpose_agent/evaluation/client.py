"""The service as the eval reaches it: `GET /api/agents` and `POST /api/chat` over HTTP, with an API key.

The eval is a client of the running service, never of its code: what it measures is what a user gets.

Exceptions, for what stops a run:

    ServiceError
    ├── ServiceUnreachable   no connection, or answers that are not Purpose-Agent's API
    └── KeyRefused           401 or 403: the key is unknown, revoked, expired or lacks the role

A question the service fails on (a 5xx, a 422, no answer within the timeout) is not an exception but
that question's `Failure`: the other questions are still worth asking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import httpx

from purpose_agent.evaluation.answers import Failure, Reply, parse_answer

# Past the chat rate limit (20/minute per key by default) the service answers 429 with Retry-After:
# wait that long, as a polite client does; a wait is capped so that a wrong header cannot stall a run.
MAX_RATE_LIMIT_WAITS = 10
MAX_WAIT_SECONDS = 120.0


class ServiceError(Exception):
    """The run cannot go on; the message says why in one line."""


class ServiceUnreachable(ServiceError):
    pass


class KeyRefused(ServiceError):
    pass


def _retry_after(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or response.reason_phrase)
    return response.reason_phrase


class ServiceClient:
    """One service at `url`, asked with one API key; `transport` replaces the network in tests."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers={"X-API-Key": api_key}, timeout=timeout, transport=transport
        )
        self._sleep = sleep
        self._on_wait = on_wait

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._http.close()

    def agents(self) -> set[str]:
        """The ids of the agents the key may talk to."""
        try:
            response = self._http.get("/api/agents")
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        self._check_key(response)
        try:
            listed = response.json()
            return {str(agent["id"]) for agent in listed}
        except (ValueError, TypeError, KeyError):
            raise ServiceUnreachable(
                f"{self.url} does not answer as Purpose-Agent: GET /api/agents gave {response.status_code}"
            ) from None

    def ask(self, agent_id: str, question: str) -> Reply:
        """The service's answer to one question in a new session, or why there is none."""
        waits = 0
        while True:
            started = time.perf_counter()
            try:
                response = self._http.post("/api/chat", json={"agent_id": agent_id, "question": question})
            except httpx.ReadTimeout:
                return Failure(None, f"no answer within {self._http.timeout.read:g} s")
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from None
            seconds = time.perf_counter() - started
            self._check_key(response)
            if response.status_code != 429:
                break
            if waits == MAX_RATE_LIMIT_WAITS:
                return Failure(429, f"still rate limited after {MAX_RATE_LIMIT_WAITS} waits")
            waits += 1
            wait = _retry_after(response)
            self._on_wait(wait)
            self._sleep(wait)
        if response.status_code != 200:
            return Failure(response.status_code, _problem_detail(response))
        try:
            body = response.json()
        except ValueError:
            return Failure(200, "the answer is not JSON")
        return parse_answer(body, seconds)

    def _unreachable(self, error: httpx.TransportError) -> ServiceUnreachable:
        return ServiceUnreachable(f"cannot reach {self.url}: {str(error) or type(error).__name__}")

    def _check_key(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            raise KeyRefused(
                f"{self.url} refused the API key ({response.status_code}: {_problem_detail(response)})"
            )
