"""What the rate-limit tests share: a route that counts, and what a refusal looks like (the app under a
test's own limits is `tests.conftest.start`)."""

from __future__ import annotations

from typing import Any

import httpx

CHEAP_ROUTE = "/api/agents"  # 401 without credentials, 200 with a user key: either way it counts


def assert_refused(response: httpx.Response, detail_part: str) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == "/problems/rate-limited"
    assert detail_part in body["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-remaining"] == "0"
    return body
