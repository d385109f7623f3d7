"""Every operation of the running service's OpenAPI document, called with schemathesis-generated requests.

For each operation and each key (an admin's, a user's), hypothesis draws requests that fit the
document (positive) and requests that break it (negative: wrong types, missing fields, values out of
range), sends them over HTTP, and runs schemathesis' checks on each response: no 5xx; the status is
one the operation documents; the media type is the documented one (errors: application/problem+json);
the body and headers fit their documented schemas; data the document forbids is refused with a 4xx;
and an operation that declares a security scheme refuses a call without credentials.

Failures are collected rather than raised, so one run lists every defect; each with the `curl` that
reproduces it. `tests/hostile/test_schema.py` runs a few examples an operation; `bench/schema_fuzz.py`
runs many and prints the table.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
]
# Each request's own limit: a hang is a failure, not a stuck run.
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass
class OperationReport:
    """What one operation answered one key's generated requests."""

    operation: str
    role: str
    mode: str
    calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # a check's message -> the curl reproducing it
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "role": self.role,
            "mode": self.mode,
            "calls": self.calls,
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "failures": self.failures,
            "seconds": round(self.seconds, 2),
        }


def fuzz(
    base_url: str,
    keys: dict[str, str],
    *,
    max_examples: int,
    known: dict[str, str] | None = None,
    seed: int = 16,
) -> list[OperationReport]:
    """Call every operation with `max_examples` positive and negative requests per key in `keys`.

    `known` names body fields whose generated value is replaced, in positive requests, by one that
    exists (an agent's id): otherwise a chat would only ever meet "no such agent"."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=REQUEST_TIMEOUT_SECONDS)
    reports: list[OperationReport] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document itself is broken: nothing can be checked against it
        operation = result.ok()
        for role, key in keys.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                report = OperationReport(operation.label, role, mode.value)
                started = time.monotonic()
                strategy = operation.as_strategy(mode)
                if mode is GenerationMode.POSITIVE and known:
                    strategy = strategy.map(functools.partial(_with_known, known))
                _exercise(strategy, base_url, key, report, max_examples, seed)
                report.seconds = time.monotonic() - started
                reports.append(report)
    return reports


def _with_known(known: dict[str, str], case: Any) -> Any:
    if isinstance(case.body, dict):
        case.body = case.body | {name: value for name, value in known.items() if name in case.body}
    return case


def _exercise(
    strategy: Any, base_url: str, key: str, report: OperationReport, max_examples: int, seed: int
) -> None:
    headers = {"X-API-Key": key}

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=strategy)
    def call(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
        report.calls += 1
        report.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Failure, FailureGroup) as found:  # recorded, and the run goes on
            failures = found.exceptions if isinstance(found, FailureGroup) else (found,)
            for failure in failures:
                message = f"{failure.title}: {_first_line(failure.message)} [{response.status_code}]"
                report.failures.setdefault(message, case.as_curl_command(headers=headers))

    # Nothing to break: an operation without parameters or body has no negative requests.
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        call()


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " / ".join(lines[:2])
