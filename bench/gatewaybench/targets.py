"""A gateway under test, and the checks that it answers.

`Target` says where a gateway listens, which key and model name to send for a given upstream delay,
and which process trees (and, for ours, PostgreSQL's) to measure. `check_target` sends one chat
completion and fails unless it is answered with 200; `drain` uses one more request to wait for those
wrk left in flight before the next cell starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gatewaybench.common import QUESTION, http, log


@dataclass
class Target:
    name: str
    port: int
    key: str
    model_of: Any  # delay in ms -> the model name to send
    roots: Any  # () -> the pids whose trees are the gateway's processes
    db_roots: Any = None  # () -> PostgreSQL's, counted in CPU but not in the gateway's RSS
    vary: bool = False
    version: str = ""


def check_target(target: Target, delay: int, timeout: float = 30) -> None:
    body = {"model": target.model_of(delay), "messages": [{"role": "user", "content": QUESTION}]}
    status, answer = http(
        "POST",
        f"http://127.0.0.1:{target.port}/v1/chat/completions",
        body,
        {"Authorization": f"Bearer {target.key}"},
        timeout=timeout,
    )
    if status != 200:
        raise RuntimeError(f"{target.name} answered {status}: {answer}")


def drain(target: Target, delay: int) -> None:
    """Wait for the requests wrk left in flight: one more request, answered once those are done."""
    started = time.monotonic()
    try:
        check_target(target, delay, timeout=180)
    except (RuntimeError, OSError) as error:
        log(f"{target.name} did not drain: {error}")
    if (waited := time.monotonic() - started) > 2 + delay / 1000:
        log(f"{target.name} took {waited:.1f} s to drain the requests left in flight")
