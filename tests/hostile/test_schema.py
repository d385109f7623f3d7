"""schemathesis over the whole OpenAPI document of the running service, as an admin and as a user.

A few generated requests per operation, key and mode (`bench/schema_fuzz.py` sends many): every
answer is documented (status, media type, schema, headers), none is a 5xx, requests that break the
document are refused with a 4xx, and every operation declaring a security scheme refuses a caller
without credentials. Chats are asked of the deployment's agent, so their answers (JSON and both
streams) are checked too, not only their "no such agent".
"""

from __future__ import annotations

from tests.hostile.fuzzing import fuzz
from tests.hostile.service import AGENT, Service

EXAMPLES = 3


def test_every_operation_answers_as_documented_for_an_admin_and_a_user(service: Service) -> None:
    keys = {"admin": service.admin_key, "user": service.user_key}
    reports = fuzz(service.base_url, keys, max_examples=EXAMPLES, known={"agent_id": AGENT, "model": AGENT})

    failures = {
        f"{report.operation} as {report.role} ({report.mode})": report.failures
        for report in reports
        if report.failures
    }
    assert failures == {}
    answered = {(report.operation, status) for report in reports for status in report.statuses}
    # The generated requests reached the routes' own answers, not only refusals in front of them.
    assert {
        ("POST /api/chat", 200),
        ("POST /api/chat/stream", 200),
        ("POST /v1/chat/completions", 200),
        ("GET /api/knowledge/categories", 403),
        ("POST /api/knowledge/search", 200),
    } <= answered
    assert all(status < 500 for _, status in answered)
