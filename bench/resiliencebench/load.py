"""Traffic while a fault is injected, and what it left stored.

`Load` runs client threads, each sending one kind of request in a loop (chat, stream, search, upload),
each request with its own X-Request-ID, until stopped; every outcome is kept: the status, or the
transport error the client saw, and when. `stored` then reads what the database holds for them:

- exchanges: each chat answered 200 must have stored its question and answer once (2 messages in its
  new session): fewer is a lost exchange, more a duplicated one; a chat not answered stores nothing
  that a later read would show as half an exchange;
- audit: each upload answered 200/202 has exactly one `document.upload` entry with its request id,
  and a refused one none.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from resiliencebench.deployment import Deployment
from tests.hostile.service import AGENT, UPLOADS

Kind = Literal["chat", "stream", "search", "upload"]
QUESTIONS = ["How often should I descale the kettle?", "How long is the heating element covered?"]


@dataclass
class Outcome:
    kind: Kind
    request_id: str
    at: float
    status: int | None  # None: the client got no answer (see error)
    error: str = ""
    session_id: str | None = None
    complete: bool = True  # a stream that ended with its `done` event
    seconds: float = 0.0
    model: str = ""  # who answered a chat: the model, or "extractive" (quoted when every model failed)

    @property
    def label(self) -> str:
        if self.status is None:
            return self.error
        return f"{self.status}" if self.complete else f"{self.status} cut"


@dataclass
class Load:
    deployment: Deployment
    kinds: dict[Kind, int]  # threads per kind
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for kind, count in self.kinds.items():
            for number in range(count):
                thread = threading.Thread(target=self._run, args=(kind, number), daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=40)
        return self.outcomes

    def _run(self, kind: Kind, number: int) -> None:
        service = self.deployment.service
        key = service.admin_key if kind == "upload" else service.user_key
        sequence = 0
        with service.client(key, timeout=20) as client:
            while not self._stop.is_set():
                sequence += 1
                outcome = _send(client, kind, f"{kind}-{number}-{sequence}")
                with self._lock:
                    self.outcomes.append(outcome)
                if outcome.status is None or outcome.status >= 500:
                    time.sleep(0.2)  # as a client backs off; it keeps trying


def _send(client: httpx.Client, kind: Kind, name: str) -> Outcome:
    request_id = f"bench-{uuid.uuid4().hex}"
    headers = {"X-Request-ID": request_id}
    started = time.time()
    outcome = Outcome(kind, request_id, started, None)
    question = QUESTIONS[hash(name) % len(QUESTIONS)]
    try:
        if kind == "chat":
            response = client.post(
                "/api/chat", json={"agent_id": AGENT, "question": question}, headers=headers
            )
            outcome.status = response.status_code
            if response.status_code == 200:
                outcome.session_id = response.json()["session_id"]
                outcome.model = response.json()["model_used"]
        elif kind == "stream":
            body = {"agent_id": AGENT, "question": question}
            with client.stream("POST", "/api/chat/stream", json=body, headers=headers) as response:
                outcome.status = response.status_code
                text = "".join(response.iter_text())
            outcome.complete = "event: done" in text or response.status_code != 200
            if response.status_code == 200 and '"session_id":"' in text:
                outcome.session_id = text.split('"session_id":"', 1)[1].split('"', 1)[0]
            if '"model_used":"' in text:
                outcome.model = text.split('"model_used":"', 1)[1].split('"', 1)[0]
        elif kind == "search":
            response = client.post("/api/knowledge/search", json={"query": question}, headers=headers)
            outcome.status = response.status_code
        else:
            data = f"# Note {name}\n\nThe kettle note number {name} says: descale monthly.\n".encode()
            response = client.post(
                "/api/knowledge/documents",
                data={"category": UPLOADS},
                files={"file": (f"{name}.md", data, "text/markdown")},
                headers=headers,
            )
            outcome.status = response.status_code
    except httpx.HTTPError as error:
        outcome.error = type(error).__name__
        outcome.complete = False
    outcome.seconds = time.time() - started
    return outcome


def statuses(outcomes: list[Outcome]) -> dict[str, Any]:
    """How many outcomes of each label ("200", "503", "ReadTimeout", "200 cut"), and the slowest."""
    counted: dict[str, Any] = dict(sorted(Counter(outcome.label for outcome in outcomes).items()))
    quoted = sum(1 for outcome in outcomes if outcome.model == "extractive")
    if quoted:
        counted["quoted"] = quoted
    if outcomes:
        counted["max s"] = round(max(outcome.seconds for outcome in outcomes), 1)
    return counted


def stored(deployment: Deployment, outcomes: list[Outcome]) -> dict[str, Any]:
    """What the database holds for these outcomes: lost and duplicated exchanges and audit entries."""
    sessions = [o.session_id for o in outcomes if o.kind in ("chat", "stream") and o.session_id]
    answered = {o.session_id for o in outcomes if o.session_id and o.status == 200 and o.complete}
    counts = dict(
        deployment.sql(
            "SELECT session_id::text, count(*) FROM chat_messages WHERE session_id::text = ANY(%s) "
            "GROUP BY session_id",
            sessions,
        )
    )
    uploads = [o for o in outcomes if o.kind == "upload" and o.status is not None]
    entries = dict(
        deployment.sql(
            "SELECT request_id, count(*) FROM audit_log WHERE action = 'document.upload' "
            "AND request_id = ANY(%s) GROUP BY request_id",
            [o.request_id for o in uploads],
        )
    )
    return {
        "exchanges_answered": len(answered),
        "exchanges_lost": sum(1 for session in answered if counts.get(session, 0) < 2),
        "exchanges_duplicated": sum(1 for count in counts.values() if int(str(count)) > 2),
        "exchanges_half": sum(1 for count in counts.values() if int(str(count)) % 2),
        "uploads_accepted": sum(1 for o in uploads if o.status in (200, 202)),
        "audit_lost": sum(1 for o in uploads if o.status in (200, 202) and o.request_id not in entries),
        "audit_duplicated": sum(1 for count in entries.values() if int(str(count)) > 1),
        "audit_for_refused": sum(
            1 for o in uploads if o.status not in (200, 202) and o.request_id in entries
        ),
    }


def nothing_lost(found: dict[str, Any]) -> bool:
    return not any(
        found[name]
        for name in (
            "exchanges_lost",
            "exchanges_duplicated",
            "exchanges_half",
            "audit_lost",
            "audit_duplicated",
            "audit_for_refused",
        )
    )
