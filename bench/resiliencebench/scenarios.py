"""Each fault, injected into the running deployment under load, with what clients saw and what was stored.

A scenario returns a row: what was injected, the clients' outcomes during the fault and after it
(statuses, or the transport errors they met), how long the service took to answer normally again,
and the storage check of `load.stored`. Every scenario puts the deployment back as it found it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from resiliencebench.deployment import Deployment
from resiliencebench.load import Kind, Load, Outcome, nothing_lost, statuses, stored
from tests.hostile.service import UPLOADS, wait_for_job
from tests.llm.fake_upstream import Fault

MIXED: dict[Kind, int] = {"chat": 3, "stream": 2, "search": 2, "upload": 1}
Row = dict[str, Any]


def under_load(
    deployment: Deployment,
    name: str,
    injected: str,
    inject: Callable[[], None],
    heal: Callable[[], None],
    *,
    fault_seconds: float = 10,
    kinds: dict[Kind, int] | None = None,
) -> Row:
    """Load for 3 s, the fault for `fault_seconds`, healed, then load until requests succeed again."""
    load = Load(deployment, kinds or MIXED).start()
    time.sleep(3)
    fault_start = time.time()
    inject()
    time.sleep(fault_seconds)
    heal()
    healed = time.time()
    recovered = _recovered_after(deployment, healed)
    time.sleep(2)
    outcomes = load.stop()
    during = [o for o in outcomes if fault_start <= o.at < healed]
    after = [o for o in outcomes if o.at >= healed + (recovered or 0)]
    found = stored(deployment, outcomes)
    return {
        "scenario": name,
        "injected": injected,
        "requests": len(outcomes),
        "during_fault": statuses(during),
        "after_recovery": statuses(after),
        "recovered_seconds": recovered,
        "stored": found,
        "nothing_lost": nothing_lost(found),
        "errors_after_recovery": sum(1 for o in after if not _fine(o)),
    }


def _fine(outcome: Outcome) -> bool:
    return outcome.status is not None and outcome.status < 500 and outcome.complete


def _recovered_after(deployment: Deployment, since: float, timeout: float = 60) -> float | None:
    """Seconds from `since` until a chat and a search both answer 200, or None."""
    with deployment.client(deployment.service.user_key, timeout=5) as client:
        while time.time() - since < timeout:
            try:
                chat = client.post("/api/chat", json={"agent_id": "kettle-helper", "question": "Descale?"})
                search = client.post("/api/knowledge/search", json={"query": "descale"})
                if chat.status_code == search.status_code == 200:
                    return round(time.time() - since, 1)
            except Exception:  # the service may be restarting: keep asking
                pass
            time.sleep(0.25)
    return None


def provider_faults(deployment: Deployment) -> list[Row]:
    upstream, proxy = deployment.upstream, deployment.upstream_proxy

    def fault(kind: str, *args: Any, **kwargs: Any) -> Callable[[], None]:
        return lambda: upstream.set_fault(Fault(kind, *args, **kwargs))  # type: ignore[arg-type]

    faults: list[tuple[str, str, Callable[[], None]]] = [
        ("provider refuses", "connections to the LLM vendor refused", lambda: proxy.set_mode("refuse")),
        ("provider hangs", "the LLM vendor accepts and never answers", lambda: proxy.set_mode("hang")),
        ("provider 429", "every call 429 with Retry-After: 30", fault("status", 429, "30")),
        ("provider 500", "every call 500", fault("status", 500)),
        ("provider malformed", "200 with a body not in OpenAI's format", fault("malformed")),
        ("provider cuts streams", "streams dropped after 2 chunks", fault("cut", cut_after=2)),
    ]

    def heal() -> None:
        proxy.set_mode("pass")
        upstream.set_fault(Fault())

    return [under_load(deployment, name, injected, inject, heal) for name, injected, inject in faults]


def redis_stopped(deployment: Deployment) -> Row:
    return under_load(
        deployment,
        "Redis stopped",
        "redis-server SIGKILLed, restarted 10 s later",
        deployment.redis.kill,
        deployment.redis.start,
    )


def redis_hangs(deployment: Deployment) -> Row:
    proxy = deployment.redis_proxy
    return under_load(
        deployment,
        "Redis hangs",
        "Redis accepts connections and never answers, 10 s",
        lambda: proxy.set_mode("hang"),
        lambda: proxy.set_mode("pass"),
    )


def postgres_restarted(deployment: Deployment) -> Row:
    postgres = deployment.postgres
    row = under_load(
        deployment,
        "PostgreSQL restarted",
        "PostgreSQL stopped (fast shutdown) for 10 s, then started",
        lambda: postgres.stop(),
        lambda: postgres.start(),
    )
    row["worker_alive_after"] = deployment.service.worker.poll() is None
    return row


def worker_killed(deployment: Deployment) -> Row:
    """A long document's job, its worker SIGKILLed mid-job; a new worker takes the job over."""
    document = "# Long manual\n\n" + "\n\n".join(
        f"## Section {n}\n\nSection {n} says the kettle needs descaling after {n} boils with vinegar."
        for n in range(600)
    )
    with deployment.client(deployment.service.admin_key, timeout=30) as admin:
        response = admin.post(
            "/api/knowledge/documents",
            data={"category": UPLOADS},
            files={"file": ("long-manual.md", document.encode(), "text/markdown")},
        )
        job_id = response.json()["job_id"]
        document_id = response.json()["document_id"]
        deadline = time.time() + 60
        progress: dict[str, Any] = {}
        while not progress.get("chunks_embedded") and time.time() < deadline:
            progress = admin.get(f"/api/jobs/{job_id}").json().get("progress") or {}
            time.sleep(0.1)  # until it is in the middle of embedding
        deployment.kill_worker()
        killed_at = time.time()
        deployment.restart_worker()
        job = wait_for_job(admin, job_id, deployment.service.worker, timeout=180)
        took = round(time.time() - killed_at, 1)
    chunks = deployment.sql(
        "SELECT count(*), count(DISTINCT chunk_index), max(d.chunk_count) FROM chunks c "
        "JOIN documents d ON d.id = c.document_id WHERE c.document_id = %s",
        document_id,
    )[0]
    return {
        "scenario": "worker SIGKILLed mid-job",
        "injected": (
            f"worker SIGKILLed with {progress.get('chunks_embedded')} of {progress.get('chunks_total')} "
            "chunks embedded, a new worker started"
        ),
        "requests": 1,
        "during_fault": {"job": job["status"], "attempts": job["attempts"]},
        "after_recovery": {"seconds_to_done": took},
        "recovered_seconds": took,
        "stored": {"chunks": chunks[0], "distinct_chunks": chunks[1], "document_chunk_count": chunks[2]},
        "nothing_lost": job["status"] == "succeeded" and chunks[0] == chunks[1] == chunks[2],
        "errors_after_recovery": 0,
    }


def api_killed_mid_stream(deployment: Deployment) -> Row:
    """Streams in flight when the API process is SIGKILLed; a new process on the same port."""
    upstream = deployment.upstream
    upstream.reply.chunk_delay = 0.3
    load = Load(deployment, {"stream": 6, "chat": 2, "upload": 1}).start()
    time.sleep(2.5)
    killed = time.time()
    deployment.kill_api()
    deployment.restart_api()
    restarted = time.time()
    upstream.reply.chunk_delay = 0.0
    recovered = _recovered_after(deployment, restarted)
    time.sleep(2)
    outcomes = load.stop()
    found = stored(deployment, outcomes)
    during = [o for o in outcomes if o.at < killed and (not o.complete or o.status is None)]
    after = [o for o in outcomes if o.at >= restarted + (recovered or 0)]
    return {
        "scenario": "API SIGKILLed mid-stream",
        "injected": "serve SIGKILLed with streams open, a new serve started on its port",
        "requests": len(outcomes),
        "during_fault": statuses(during),
        "after_recovery": statuses(after),
        "recovered_seconds": round(restarted - killed + (recovered or 0), 1),
        "stored": found,
        "nothing_lost": nothing_lost(found),
        "errors_after_recovery": sum(1 for o in after if not _fine(o)),
    }


# The worker's first: later scenarios' uploads queue jobs that its job would wait behind.
SCENARIOS: dict[str, Callable[[Deployment], list[Row]]] = {
    "worker-kill": lambda d: [worker_killed(d)],
    "providers": provider_faults,
    "redis-stopped": lambda d: [redis_stopped(d)],
    "redis-hangs": lambda d: [redis_hangs(d)],
    "postgres": lambda d: [postgres_restarted(d)],
    "api-kill": lambda d: [api_killed_mid_stream(d)],
}
