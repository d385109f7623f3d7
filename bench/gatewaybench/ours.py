"""Our service as a target: its database, API key, knowledge, personas and processes.

`Ours` runs the working tree's `purpose-agent` against the embedded PostgreSQL in the bench's own
DATA_DIR (on a free port, started only if not already running, and then stopped again), creates an
admin key, starts `purpose-agent serve` (and, while the sample `support` documents are ingested, a
worker) through `Processes`, and creates one persona per upstream delay with retrieval on
(`ours-rag`) and one with retrieval off (`ours-gateway`, when the persona field exists).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatewaybench.common import ROOT, UPSTREAM_KEY, free_port, http, log, wait_until
from gatewaybench.processes import Processes, pin_tree, taskset, tree
from gatewaybench.targets import Target

VENV_BIN = ROOT / ".venv" / "bin"
CATEGORY = "support"


@dataclass
class Ours:
    """Our API, its embedded PostgreSQL, and the personas the targets use."""

    processes: Processes
    workdir: Path
    cores: list[int]
    data_dir: Path
    upstream_port: int
    api_workers: int
    env: dict[str, str] = field(default_factory=dict)
    db_port: int = 0
    started_db: bool = False
    api: subprocess.Popen[bytes] | None = None
    port: int = 0
    key: str = ""
    retrieval_switch: str | None = None  # why ours-gateway cannot run, when it cannot
    api_processes: int = 0

    def cli(self, *args: str, cores: list[int] | None = None) -> str:
        command = [*(taskset(cores) if cores else []), str(VENV_BIN / "purpose-agent"), *args]
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(
                f"purpose-agent {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout

    def postmaster(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
            if Path(f"/proc/{pid}").exists():
                return pid
        return None

    def prepare(self, delays: set[int]) -> None:
        pid_file = self.data_dir / "postgres" / "postmaster.pid"
        running_port = None
        if self.postmaster() is not None:
            running_port = int(pid_file.read_text().splitlines()[3])
        self.db_port = running_port or free_port()
        self.env = {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            "EMBEDDED_DB_PORT": str(self.db_port),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "RATE_LIMIT_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            "APP_ENV": "development",
            "LLM_CHAIN": "openai",
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": f"http://127.0.0.1:{self.upstream_port}/v1",
            "OPENAI_MODEL": "fake-d0",
        }
        if self.api_workers_supported():
            self.env["API_WORKERS"] = str(self.api_workers)
        elif self.api_workers != 1:
            log(f"API_WORKERS is not a setting yet: --api-workers {self.api_workers} ignored, 1 process")
            self.api_workers = 1
        self.started_db = running_port is None
        self.cli("db", "start", cores=self.cores)
        postmaster = self.postmaster()
        assert postmaster is not None
        pin_tree(postmaster, self.cores)
        self.cli("migrate")
        self.key = self.cli("keys", "create", "--role", "admin", "--name", "bench").strip().splitlines()[-1]
        self.start_api()
        self.load_knowledge()
        self.create_personas(delays)

    def api_workers_supported(self) -> bool:
        # .env.example lists every setting (a test keeps it so), in the checkout being measured.
        example = (ROOT / ".env.example").read_text().splitlines()
        return any(line.startswith("API_WORKERS=") for line in example)

    def start_api(self) -> None:
        self.port = free_port()
        command = [*taskset(self.cores), str(VENV_BIN / "purpose-agent"), "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port)]
        self.api = self.processes.start("our API", command, self.workdir / "api.log", env=self.env, cwd=ROOT)
        api = self.api
        wait_until(lambda: self.request("GET", "/health/ready")[0] == 200, "our API", 120, api)
        time.sleep(1)  # let every worker process come up before counting them
        self.api_processes = len(tree(api.pid))
        log(f"our API up on 127.0.0.1:{self.port}, pid {api.pid}: {self.api_processes} process(es)")
        if self.api_workers > 1 and self.api_processes == 1:
            log(f"warning: API_WORKERS={self.api_workers} but `purpose-agent serve` started one process")

    def stop_api(self) -> None:
        if self.api is not None:
            self.processes.stop(self.api)
            self.api = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.port}{path}"
        return http(method, url, body, {"X-API-Key": self.key}, timeout=60)

    def load_knowledge(self) -> None:
        status, answer = self.request("POST", "/api/knowledge/categories", {"name": CATEGORY})
        if status not in (201, 409):
            raise RuntimeError(f"creating the category answered {status}: {answer}")
        files = sorted(path for path in (ROOT / "knowledge" / CATEGORY).iterdir() if path.is_file())
        for path in files:
            upload = subprocess.run(
                [
                    *("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}"),
                    *("-H", f"X-API-Key: {self.key}", "-F", f"file=@{path}", "-F", f"category={CATEGORY}"),
                    f"http://127.0.0.1:{self.port}/api/knowledge/documents",
                ],
                capture_output=True,
                text=True,
            )
            if upload.stdout not in ("200", "202"):
                raise RuntimeError(f"uploading {path.name} answered {upload.stdout}: {upload.stderr}")
        if self.documents_ready(len(files)):
            return
        command = [*taskset(self.cores), str(VENV_BIN / "purpose-agent"), "worker"]
        worker = self.processes.start(
            "ingestion worker", command, self.workdir / "worker.log", env=self.env, cwd=ROOT
        )
        try:
            wait_until(lambda: self.documents_ready(len(files)), "ingestion of the documents", 600, worker)
        finally:
            self.processes.stop(worker, timeout=60)
        log(f"{len(files)} documents of '{CATEGORY}' ready; worker stopped")

    def documents_ready(self, expected: int) -> bool:
        status, page = self.request("GET", f"/api/knowledge/documents?category={CATEGORY}&limit=100")
        if status != 200:
            raise RuntimeError(f"listing the documents answered {status}: {page}")
        failed = [item["source_name"] for item in page["items"] if item["status"] == "failed"]
        if failed:
            raise RuntimeError(f"ingestion failed for {', '.join(failed)}")
        ready = [item for item in page["items"] if item["status"] == "ready"]
        return len(ready) >= expected

    def create_personas(self, delays: set[int]) -> None:
        for ms in sorted(delays):
            rag = {"name": f"Bench RAG {ms} ms", "knowledge_category": CATEGORY, "llm_model": f"fake-d{ms}"}
            # Every question reaches the model: none is answered by the abstention for a low score.
            self.upsert_persona(f"bench-rag-d{ms}", {**rag, "min_score": -1.0})
            gateway = {"name": f"Bench gateway {ms} ms", "knowledge_category": CATEGORY}
            gateway |= {"llm_model": f"fake-d{ms}", "retrieval": False}
            if self.retrieval_switch is None:
                status, answer = self.upsert_persona(f"bench-gateway-d{ms}", gateway, refused_ok=True)
                if status == 422:
                    self.retrieval_switch = f"creating a persona with retrieval off answered 422: {answer}"

    def upsert_persona(
        self, persona_id: str, body: dict[str, Any], refused_ok: bool = False
    ) -> tuple[int, Any]:
        status, answer = self.request("POST", "/api/personas", {"id": persona_id, **body})
        if status == 409:
            status, answer = self.request("PUT", f"/api/personas/{persona_id}", body)
        if status not in (200, 201) and not (refused_ok and status == 422):
            raise RuntimeError(f"persona {persona_id}: {status} {answer}")
        return status, answer

    def target(self, name: str) -> Target:
        prefix = "bench-rag" if name == "ours-rag" else "bench-gateway"
        return Target(
            name,
            self.port,
            self.key,
            lambda ms: f"{prefix}-d{ms}",
            lambda: [self.api.pid] if self.api else [],
            db_roots=lambda: [pid] if (pid := self.postmaster()) else [],
            vary=name == "ours-rag",
        )

    def stop(self) -> None:
        self.stop_api()
        if self.started_db and self.env:
            log("stopping the embedded PostgreSQL")
            with contextlib.suppress(RuntimeError):
                self.cli("db", "stop")
