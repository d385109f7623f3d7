"""What our OpenAI-compatible gateway adds over calling the upstream directly, beside LiteLLM's proxy.

Run by hand (never part of the test suite), as root on a machine with Debian's packages:

    .venv/bin/python bench/gateway.py [--duration 10] [--connections 1,4,16,64] [--delays 0,500]
        [--targets direct,litellm,ours-gateway,ours-rag] [--skip-capacity] [--streams 1000]
        [--api-workers 1] [--warmup 2] [--data-dir .data/bench] [--out bench/results/gateway.json]

Everything runs on 127.0.0.1 against one fake upstream: our own nginx (Debian's nginx-light with the
echo module, installed with apt-get on first use, its service kept from starting) answering an
OpenAI chat completion, or a short SSE stream when the body says `"stream": true`, after the delay
named in the model (`fake-d500`: 500 ms). Targets, each driven by wrk (closed loop, a Lua script):

- direct:        wrk calling the fake upstream itself (the baseline);
- litellm:       LiteLLM's proxy (`litellm[proxy]`, in a venv of its own under .data/, 2 workers);
- ours-gateway:  our `/v1/chat/completions` on a persona with retrieval off;
- ours-rag:      the same on a persona with retrieval on over the sample `support` documents, with a
                 different question on every request.

Overhead is a target's p50/p99 minus direct's at the same connections and delay. CPU ms per request
is utime+stime of the gateway's process tree (for ours also the PostgreSQL server's) over the cell,
divided by the requests served. A capacity run then opens 1,000 concurrent streamed requests
against a 2 s upstream (direct, then LiteLLM and ours if among the targets; ours on one API process,
retrieval off unless the persona field is missing) and records errors and time to first content chunk.

Our service runs from the working tree with the embedded PostgreSQL in DATA_DIR (`--data-dir`,
default .data/bench, on a free port), so the bench never touches the development database.
On 2 cores, nginx, wrk and the stream client share one core and the gateway under test has the
other. Each cell also reports how busy each core was and `other %`: CPU that none of the measured
processes spent (another program running meanwhile makes the figures unreliable). Prints tables and
writes bench/results/gateway.json; a default run takes about 8 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
LITELLM_VENV = ROOT / ".data" / "bench-litellm-venv"
LITELLM_VERSION = "1.108.7"
LITELLM_KEY = "sk-bench-master-key"
UPSTREAM_KEY = "sk-fake-upstream"
CATEGORY = "support"
CAPACITY_DELAY_MS = 2000
TARGETS = ("direct", "litellm", "ours-gateway", "ours-rag")
QUESTION = "How long is the refund window?"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_MB = 1024.0

COMPLETION = {
    "id": "chatcmpl-fake",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "fake",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "The refund window is 30 days [1]."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 42, "completion_tokens": 9, "total_tokens": 51},
}


def _chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


STREAM_CHUNKS = [
    _chunk({"role": "assistant", "content": "The refund window"}),
    _chunk({"content": " is 30 days [1]."}),
    _chunk({}, "stop"),
    {**_chunk({}), "choices": [], "usage": COMPLETION["usage"]},
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- processes: start, pin, measure, stop ----------------------------------------------------------


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found += [int(each) for each in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def tree(root: int) -> list[int]:
    """`root` and every live descendant."""
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        if Path(f"/proc/{pid}").exists():
            pids.append(pid)
            queue += children(pid)
    return pids


def cpu_seconds(roots: list[int]) -> float:
    """utime+stime of the trees, plus the reaped children's (cutime+cstime): each CPU second once."""
    ticks = 0
    for root in roots:
        for pid in tree(root):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def rss_mb(roots: list[int]) -> float:
    total_kb = 0
    for root in roots:
        for pid in tree(root):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
    return round(total_kb / PAGE_MB, 1)


def core_times() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies of each core."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            numbers = [int(value) for value in values[:8]]
            idle = numbers[3] + numbers[4]
            times[int(name[3:])] = (sum(numbers) - idle, sum(numbers))
    return times


def pin_tree(root: int, cores: list[int]) -> None:
    for pid in tree(root):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task), cores)


@dataclass
class Cores:
    upstream: list[int]
    load: list[int]
    gateway: list[int]

    @classmethod
    def plan(cls) -> Cores:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 3:
            return cls([cpus[0]], [cpus[1]], cpus[2:])
        if len(cpus) == 2:
            return cls([cpus[0]], [cpus[0]], [cpus[1]])
        return cls(cpus, cpus, cpus)

    def describe(self) -> str:
        return (
            f"nginx upstream on core {self.upstream}, wrk and the stream client on core {self.load}, "
            f"gateway under test (LiteLLM, or our API and its PostgreSQL) on core {self.gateway}"
        )


def taskset(cores: list[int]) -> list[str]:
    return ["taskset", "-c", ",".join(str(core) for core in cores)]


@dataclass
class Processes:
    """Every process the bench started, stopped by pid in reverse order."""

    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, command: list[str], log_path: Path, **options: Any) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as out:
            # A session of its own: a Ctrl-C reaches the bench, which stops each in order.
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **options
            )
        self.started.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
        descendants = tree(process.pid)[1:]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pid in descendants:  # workers that outlived their parent
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.started = [(name, each) for name, each in self.started if each is not process]

    def stop_all(self) -> None:
        for name, process in reversed(list(self.started)):
            log(f"stopping {name} (pid {process.pid})")
            self.stop(process)


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_until(check: Any, what: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.25)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s")


def apt_install(packages: list[str]) -> None:
    """Install Debian packages once, keeping their services from starting (policy-rc.d exits 101)."""
    if os.geteuid() != 0:
        raise RuntimeError(f"not root: install {' '.join(packages)} yourself")
    policy = Path("/usr/sbin/policy-rc.d")
    if not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"apt-get install {' '.join(packages)}")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *packages], check=True, env=env, stdout=subprocess.DEVNULL
    )


# --- the fake upstream ------------------------------------------------------------------------------

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")


def nginx_conf(workdir: Path, port: int, delays: set[int]) -> str:
    locations = []
    for ms in sorted(delays):
        sleep = f"echo_sleep {ms / 1000:.3f}; " if ms else ""
        events = " ".join(f"echo 'data: {json.dumps(chunk)}'; echo; echo_flush;" for chunk in STREAM_CHUNKS)
        locations += [
            f"location = /fake/j/{ms} {{ default_type application/json; {sleep}"
            f"echo '{json.dumps(COMPLETION)}'; }}",
            f"location = /fake/s/{ms} {{ default_type text/event-stream; {sleep}{events} "
            "echo 'data: [DONE]'; echo; }",
        ]
    body = "\n    ".join(locations)
    # The body is read into memory, then two maps route on it: streamed or not, and the delay named
    # in the model ("fake-d500": 500 ms).
    return f"""
load_module {ECHO_MODULE};
worker_processes 1;
worker_rlimit_nofile 20000;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
  access_log off;
  client_body_buffer_size 1m;
  client_max_body_size 1m;
  client_body_in_single_buffer on;
  client_body_temp_path {workdir}/nginx-body;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  map $request_body $fake_kind {{ "~\\"stream\\"\\s*:\\s*true" s; default j; }}
  map $request_body $fake_delay {{ "~\\"model\\"\\s*:\\s*\\"[^\\"]*-d(?<ms>[0-9]+)\\"" $ms; default 0; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ return 404; }}
    location = /v1/chat/completions {{ echo_read_request_body; echo_exec /fake/$fake_kind/$fake_delay; }}
    {body}
  }}
}}
"""


def start_nginx(processes: Processes, workdir: Path, cores: list[int], delays: set[int]) -> tuple[int, int]:
    if not shutil.which("nginx") or not ECHO_MODULE.exists():
        apt_install(["nginx-light", "libnginx-mod-http-echo"])
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_conf(workdir, port, {0, *delays}))
    command = [*taskset(cores), "nginx", "-c", str(conf), "-e", str(workdir / "nginx-error.log")]
    command += ["-g", "daemon off;"]
    process = processes.start("nginx", command, workdir / "nginx.out")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http("GET", base + "/")[0] == 404, "nginx", 15, process)
    status, answer = http("POST", f"{base}/v1/chat/completions", {"model": "fake-d0", "messages": []})
    if status != 200 or answer.get("object") != "chat.completion":
        raise RuntimeError(f"the fake upstream answered {status}: {answer}")
    return port, process.pid


# --- the targets --------------------------------------------------------------------------------------


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


def litellm_binary(workdir: Path) -> Path:
    """LiteLLM's proxy in a venv of its own, created once and reused."""
    binary = LITELLM_VENV / "bin" / "litellm"
    python = LITELLM_VENV / "bin" / "python"
    if binary.exists():
        shown = subprocess.run([str(python), "-m", "pip", "show", "litellm"], capture_output=True, text=True)
        if "Version:" in shown.stdout:
            return binary
    log(f"creating {LITELLM_VENV.relative_to(ROOT)} with litellm[proxy]=={LITELLM_VERSION}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LITELLM_VENV)], check=True)
    for spec in (f"litellm[proxy]=={LITELLM_VERSION}", "litellm[proxy]>=1,<2"):
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", spec],
            capture_output=True,
            text=True,
        )
        (workdir / "litellm-pip.log").write_text(done.stdout + done.stderr)
        if done.returncode == 0:
            return binary
        log(f"pip install {spec} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    raise RuntimeError("LiteLLM could not be installed; see litellm-pip.log")


def start_litellm(
    processes: Processes, workdir: Path, cores: list[int], upstream_port: int, delays: set[int]
) -> Target:
    binary = litellm_binary(workdir)
    version = subprocess.run(
        [
            str(LITELLM_VENV / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    models = "".join(
        f"""  - model_name: fake-d{ms}
    litellm_params:
      model: openai/fake-d{ms}
      api_base: http://127.0.0.1:{upstream_port}/v1
      api_key: {UPSTREAM_KEY}
"""
        for ms in sorted(delays)
    )
    config = workdir / "litellm.yaml"
    config.write_text(
        f"model_list:\n{models}general_settings:\n  master_key: {LITELLM_KEY}\n"
        "litellm_settings:\n  telemetry: false\n  drop_params: true\n"
    )
    port = free_port()
    # No database and no Redis for it, whatever this shell has; no download of the model price map.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "REDIS_HOST"}}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_MODE="PRODUCTION")
    command = [*taskset(cores), str(binary), "--config", str(config), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--num_workers", "2"]
    process = processes.start("litellm", command, workdir / "litellm.log", cwd=workdir, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http("GET", base + "/health/liveliness")[0] == 200, "litellm", 180, process)
    target = Target("litellm", port, LITELLM_KEY, lambda ms: f"fake-d{ms}", lambda: [process.pid])
    check_target(target, min(delays))
    log(f"litellm {version} up on {base}, pid {process.pid} ({len(tree(process.pid))} processes)")
    target.version = version
    return target


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
        probe = "from purpose_agent.settings import Settings; print('api_workers' in Settings.model_fields)"
        done = subprocess.run(
            [str(VENV_BIN / "python"), "-c", probe], capture_output=True, text=True, cwd=ROOT
        )
        return done.stdout.strip() == "True"

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


# --- wrk ----------------------------------------------------------------------------------------------

LUA = r"""
-- Written by bench/gateway.py: POST a chat completion; with vary, a new question on every request.
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer __KEY__"
local prefix = [==[__PREFIX__]==]
local suffix = [==[__SUFFIX__]==]
local vary = __VARY__
local offset = __OFFSET__
local subjects = {"refund", "invoice", "password reset", "API key", "upload limit", "PDF upload",
  "DOCX file", "rate limit", "error 413", "error 429", "timeout", "citation", "category", "persona",
  "search results", "ingestion", "account", "export", "billing", "session", "Markdown file", "login"}
local asks = {"How do I solve a %s problem together with a %s? (ticket %d)",
  "Why does the %s fail after a %s? Case %d", "What is the policy for %s and %s, request %d?",
  "Can you explain the %s when a %s happens? Question %d"}
local threads = {}
local counter = 0
local fixed = nil

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  abstained = 0
  statuses = {}
  fixed = wrk.format(nil, nil, nil, prefix .. "__QUESTION__" .. suffix)
end

function request()
  if not vary then
    return fixed
  end
  counter = counter + 1
  local n = offset + counter * 16 + thread_id
  local question = string.format(asks[n % #asks + 1], subjects[n % #subjects + 1],
    subjects[math.floor(n / 7) % #subjects + 1], n)
  return wrk.format(nil, nil, nil, prefix .. question .. suffix)
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    statuses[status] = (statuses[status] or 0) + 1
  elseif body and string.find(body, '"abstained":true', 1, true) then
    abstained = abstained + 1
  end
end

function done(summary, latency, requests)
  local bad, abst, codes = 0, 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
    abst = abst + thread:get("abstained")
    for status, count in pairs(thread:get("statuses")) do
      codes = codes .. string.format('%s"%d":%d', codes == "" and "" or ",", status, count)
    end
  end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"non200":%d,"abstained":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    bad, abst, codes))
end
"""


def lua_script(path: Path, target: Target, delay: int, vary: bool, offset: int) -> None:
    marker = "@@QUESTION@@"
    body = json.dumps(
        {
            "model": target.model_of(delay),
            "messages": [{"role": "user", "content": marker}],
            "max_tokens": 32,
            "stream": False,
        }
    )
    prefix, suffix = body.split(marker)
    script = LUA
    for name, value in {
        "__KEY__": target.key,
        "__PREFIX__": prefix,
        "__SUFFIX__": suffix,
        "__VARY__": "true" if vary else "false",
        "__OFFSET__": str(offset),
        "__QUESTION__": QUESTION,
    }.items():
        script = script.replace(name, value)
    path.write_text(script)


def run_wrk(
    workdir: Path,
    target: Target,
    delay: int,
    connections: int,
    duration: int,
    cores: list[int],
    offset: int,
) -> dict[str, Any]:
    script = workdir / f"wrk-{target.name}-{delay}-{connections}-{offset}.lua"
    lua_script(script, target, delay, target.vary, offset)
    threads = max(1, min(connections, len(cores)))
    command = [
        *taskset(cores),
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
    ]
    command += ["-s", str(script), f"http://127.0.0.1:{target.port}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return dict(json.loads(line.removeprefix("WRKJSON ")))
    output = (done.stderr.strip() or done.stdout.strip())[-500:]
    raise RuntimeError(f"wrk printed no result (exit {done.returncode}): {output}")


def process_jiffies() -> int:
    """user+nice+system time of the whole machine: what processes spend, without interrupts."""
    values = Path("/proc/stat").read_text().splitlines()[0].split()[1:4]
    return sum(int(value) for value in values)


def own_cpu() -> float:
    """The bench's CPU and its reaped children's (wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


@dataclass
class Meter:
    """CPU of process trees and of each core between start() and stop(), and of everything else.

    `other_cpu_pct` is the CPU that neither the gateway, its database, the upstream, wrk nor the bench
    spent, in % of one core: an idle gateway's background work, or another program disturbing the run.
    """

    roots: list[int]
    db_roots: list[int]
    upstream: int
    marks: dict[str, float] = field(default_factory=dict)
    cores: dict[int, tuple[int, int]] = field(default_factory=dict)

    def _read(self) -> dict[str, float]:
        return {
            "gateway": cpu_seconds(self.roots),
            "db": cpu_seconds(self.db_roots),
            "upstream": cpu_seconds([self.upstream]),
            "own": own_cpu(),
            "machine": process_jiffies() / CLOCK_TICKS,
            "wall": time.monotonic(),
        }

    def start(self) -> None:
        self.marks, self.cores = self._read(), core_times()

    def stop(self, requests: int) -> dict[str, Any]:
        now, cores = self._read(), core_times()
        spent = {name: now[name] - self.marks[name] for name in now}
        per = 1000 / max(requests, 1)
        busy = {
            f"core{core}_busy_pct": round(100 * (cores[core][0] - busy) / max(cores[core][1] - total, 1), 1)
            for core, (busy, total) in self.cores.items()
        }
        known = spent["gateway"] + spent["db"] + spent["upstream"] + spent["own"]
        return {
            "cpu_ms_per_req": round((spent["gateway"] + spent["db"]) * per, 3) if self.roots else None,
            "gateway_cpu_ms_per_req": round(spent["gateway"] * per, 3) if self.roots else None,
            "db_cpu_ms_per_req": round(spent["db"] * per, 3) if self.db_roots else None,
            "upstream_cpu_ms_per_req": round(spent["upstream"] * per, 3),
            "loadgen_cpu_ms_per_req": round(spent["own"] * per, 3),
            "other_cpu_pct": round(100 * max(spent["machine"] - known, 0) / spent["wall"], 1),
            **busy,
        }


def measure_cell(
    workdir: Path,
    target: Target,
    delay: int,
    connections: int,
    duration: int,
    cores: Cores,
    upstream_pid: int,
    offset: int,
) -> dict[str, Any]:
    meter = Meter(target.roots(), target.db_roots() if target.db_roots else [], upstream_pid)
    meter.start()
    result = run_wrk(workdir, target, delay, connections, duration, cores.load, offset)
    seconds = result["duration_us"] / 1e6
    errors = sum(result[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "target": target.name,
        "delay_ms": delay,
        "connections": connections,
        "requests": result["requests"],
        "rps": round(result["requests"] / seconds, 1),
        "p50_ms": round(result["p50_us"] / 1000, 2),
        "p90_ms": round(result["p90_us"] / 1000, 2),
        "p99_ms": round(result["p99_us"] / 1000, 2),
        "max_ms": round(result["max_us"] / 1000, 2),
        "errors": errors + result["non200"],
        "non200": result["non200"],
        "non200_statuses": result["statuses"],
        "abstained": result["abstained"],
        **meter.stop(result["requests"]),
    }


# --- the capacity run: many concurrent streams ------------------------------------------------------


@dataclass
class StreamResult:
    error: str | None = None
    ttfb: float | None = None
    ttft: float | None = None
    total: float | None = None


async def one_stream(port: int, key: str, body: bytes, timeout: float) -> StreamResult:
    """A streamed chat completion over a raw HTTP/1.1 connection, timing the first content chunk."""
    started = time.perf_counter()
    result = StreamResult()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
            head = (
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            status_line = await reader.readline()
            status = int(status_line.split()[1]) if status_line else 0
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if status != 200:
                return StreamResult(error=f"HTTP {status}")
            done = False
            buffer = b""
            async for data in _body(reader, headers):
                if result.ttfb is None:
                    result.ttfb = time.perf_counter() - started
                buffer = (buffer + data).replace(b"\r\n", b"\n")
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    for line in event.split(b"\n"):
                        if not line.startswith(b"data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == b"[DONE]":
                            done = True
                            continue
                        chunk = json.loads(payload)
                        if "error" in chunk:
                            return StreamResult(error=f"error event: {str(chunk['error'])[:80]}")
                        for choice in chunk.get("choices") or []:
                            if (choice.get("delta") or {}).get("content") and result.ttft is None:
                                result.ttft = time.perf_counter() - started
            if result.ttft is None:
                result.error = "no content chunk"
            elif not done:
                result.error = "stream ended before [DONE]"
    except TimeoutError:
        result.error = "timeout"
    except (OSError, ValueError, IndexError) as error:
        result.error = f"{type(error).__name__}: {str(error)[:60]}"
    finally:
        if writer is not None:
            writer.close()
    result.total = time.perf_counter() - started
    return result


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> Any:
    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            yield await reader.readexactly(size)
            await reader.readexactly(2)
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while data := await reader.read(65536):
            yield data


async def stream_many(port: int, key: str, model: str, streams: int, timeout: float) -> list[StreamResult]:
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": QUESTION}],
            "max_tokens": 32,
            "stream": True,
        }
    ).encode()
    return await asyncio.gather(*(one_stream(port, key, body, timeout) for _ in range(streams)))


def run_streams(port: int, key: str, model: str, streams: int, timeout: float) -> list[StreamResult]:
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(stream_many(port, key, model, streams, timeout))


def capacity(target: Target, streams: int, upstream_pid: int, model: str) -> dict[str, Any]:
    meter = Meter(target.roots(), target.db_roots() if target.db_roots else [], upstream_pid)
    meter.start()
    started = time.perf_counter()
    results = run_streams(target.port, target.key, model, streams, timeout=120)
    wall = time.perf_counter() - started
    ok = [result for result in results if result.error is None]
    ttft = [result.ttft * 1000 for result in ok if result.ttft is not None]
    ttfb = [result.ttfb * 1000 for result in ok if result.ttfb is not None]
    totals = [result.total * 1000 for result in ok if result.total is not None]
    delay = CAPACITY_DELAY_MS
    return {
        "target": target.name,
        "model": model,
        "streams": streams,
        "errors": len(results) - len(ok),
        "error_kinds": dict(Counter(result.error for result in results if result.error).most_common(5)),
        "ttft_p50_ms": round(percentile(ttft, 0.5), 1) if ttft else None,
        "ttft_p99_ms": round(percentile(ttft, 0.99), 1) if ttft else None,
        "ttft_overhead_p50_ms": round(percentile(ttft, 0.5) - delay, 1) if ttft else None,
        "ttft_overhead_p99_ms": round(percentile(ttft, 0.99) - delay, 1) if ttft else None,
        "ttft_overhead_max_ms": round(max(ttft) - delay, 1) if ttft else None,
        # The first body bytes: ours sends its role chunk (with citations) before calling the model.
        "first_byte_p50_ms": round(percentile(ttfb, 0.5), 1) if ttfb else None,
        "first_byte_p99_ms": round(percentile(ttfb, 0.99), 1) if ttfb else None,
        "total_p99_ms": round(percentile(totals, 0.99), 1) if totals else None,
        "wall_s": round(wall, 2),
        "rss_mb_after": rss_mb(target.roots()) if target.roots() else None,
        **meter.stop(streams),
    }


# --- the run --------------------------------------------------------------------------------------------


def background_load(seconds: float = 2) -> float:
    """CPU the machine spends before the bench starts anything, in % of one core: a disturbed run."""
    before, started = process_jiffies(), time.monotonic()
    time.sleep(seconds)
    used = (process_jiffies() - before) / CLOCK_TICKS
    percent = round(100 * used / (time.monotonic() - started), 1)
    if percent > 10:
        # Over the last 2 s, not ps's lifetime average: top's second sample.
        sample = subprocess.run(
            ["top", "-b", "-n", "2", "-d", "1", "-w", "200"], capture_output=True, text=True
        )
        rows = sample.stdout.split("PID USER")[-1].splitlines()[1:]
        busiest = [" ".join(row.split()[i] for i in (0, 8, 11)) for row in rows[:4] if len(row.split()) > 11]
        busiest = [row for row in busiest if not row.startswith(f"{os.getpid()} ")][:3]
        log(f"warning: the machine is already busy ({percent}% of a core): {'; '.join(busiest)}")
    return percent


def raise_open_files(needed: int) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    enough = soft >= needed
    if not enough:
        log(f"warning: the open-file limit is {soft}, below the {needed} the capacity run needs")
    return {"soft": soft, "hard": hard, "needed": needed, "enough": enough}


def run(
    args: argparse.Namespace,
    workdir: Path,
    processes: Processes,
    cleanups: list[Callable[[], None]],
    report: dict[str, Any],
) -> None:
    targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = [name for name in targets if name not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown targets {unknown} (known: {', '.join(TARGETS)})")
    delays = [int(value) for value in args.delays.split(",")]
    connections = [int(value) for value in args.connections.split(",")]
    cores = Cores.plan()
    os.sched_setaffinity(0, cores.load)  # the bench and its stream client share the load core
    report["cores"] = {
        "upstream": cores.upstream,
        "load": cores.load,
        "gateway": cores.gateway,
        "description": cores.describe(),
    }
    report["open_files"] = raise_open_files(2 * args.streams + 200)
    log(cores.describe())
    report["background_cpu_pct"] = background_load()
    if not shutil.which("wrk"):
        apt_install(["wrk"])

    capacity_delays = set() if args.skip_capacity else {CAPACITY_DELAY_MS}
    upstream_port, upstream_pid = start_nginx(processes, workdir, cores.upstream, {*delays, *capacity_delays})
    log(f"fake upstream (nginx) on 127.0.0.1:{upstream_port}, pid {upstream_pid}")
    direct = Target("direct", upstream_port, UPSTREAM_KEY, lambda ms: f"fake-d{ms}", lambda: [])
    available: dict[str, Target] = {"direct": direct}
    skipped: dict[str, str] = report["skipped"]

    litellm = None
    if "litellm" in targets:
        try:
            litellm = start_litellm(
                processes, workdir, cores.gateway, upstream_port, {*delays, *capacity_delays}
            )
            available["litellm"] = litellm
            report["meta"]["litellm"] = litellm.version
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            skipped["litellm"] = str(error)
            log(f"skipping litellm: {error}")
            tail = (
                (workdir / "litellm.log").read_text(errors="replace")[-2000:]
                if (workdir / "litellm.log").exists()
                else ""
            )
            if tail:
                print(tail)

    ours = None
    if any(name.startswith("ours") for name in targets):
        ours = Ours(
            processes, workdir, cores.gateway, args.data_dir.resolve(), upstream_port, args.api_workers
        )
        cleanups.append(ours.stop)
        ours.prepare({*delays, *capacity_delays})
        report["api_workers"] = {"setting": ours.api_workers, "processes": ours.api_processes}
        available["ours-rag"] = ours.target("ours-rag")
        if ours.retrieval_switch is None:
            available["ours-gateway"] = ours.target("ours-gateway")
        else:
            skipped["ours-gateway"] = ours.retrieval_switch
            log(f"skipping ours-gateway: {ours.retrieval_switch}")
        for name in ("ours-gateway", "ours-rag"):
            if name in available:
                check_target(available[name], min(delays))

    offset = 0
    for delay in delays:
        for name in targets:
            target = available.get(name)
            if target is None:
                continue
            # A short warm-up: connection pools, caches and lazy imports before the first cell.
            offset += 1
            run_wrk(workdir, target, delay, 4, args.warmup, cores.load, offset * 10_000_000)
            drain(target, delay)
            for count in connections:
                offset += 1
                cell = measure_cell(
                    workdir, target, delay, count, args.duration, cores, upstream_pid, offset * 10_000_000
                )
                report["cells"].append(cell)
                drain(target, delay)
                log(
                    f"delay {delay} ms {name:>12} c={count:<3} {cell['rps']:>8} req/s"
                    f"  p50 {cell['p50_ms']} ms  p99 {cell['p99_ms']} ms"
                    f"  cpu {cell['cpu_ms_per_req']} ms/req  errors {cell['errors']}"
                )
            if target.name != "direct":
                gateway = "ours" if name.startswith("ours") else name
                report["rss_mb"].setdefault(gateway, {})["after_cells"] = rss_mb(target.roots())
    if ours is not None and ours.postmaster():
        report["rss_mb"].setdefault("ours", {})["postgres_after_cells"] = rss_mb([ours.postmaster() or 0])

    if not args.skip_capacity:
        log(f"capacity: {args.streams} concurrent streams against a {CAPACITY_DELAY_MS} ms upstream")
        runs = [(direct, f"fake-d{CAPACITY_DELAY_MS}")]
        if litellm is not None:
            runs.append((litellm, f"fake-d{CAPACITY_DELAY_MS}"))
        if ours is not None:
            if ours.api_workers != 1:
                ours.stop_api()
                ours.env["API_WORKERS"] = "1"
                ours.api_workers = 1
                ours.start_api()
            kind = "ours-gateway" if ours.retrieval_switch is None else "ours-rag"
            runs.append((ours.target(kind), f"bench-{kind.removeprefix('ours-')}-d{CAPACITY_DELAY_MS}"))
        for target, model in runs:
            row = capacity(target, args.streams, upstream_pid, model)
            report["capacity"].append(row)
            log(
                f"capacity {target.name}: {row['errors']} errors,"
                f" TTFT overhead p50 {row['ttft_overhead_p50_ms']} p99 {row['ttft_overhead_p99_ms']} ms,"
                f" wall {row['wall_s']} s"
            )
            time.sleep(2)
    if litellm is not None:
        report["rss_mb"].setdefault("litellm", {})["after_run"] = rss_mb(litellm.roots())
    if ours is not None and ours.api is not None:
        report["rss_mb"].setdefault("ours", {})["after_run"] = rss_mb([ours.api.pid])
        report["rss_mb"]["ours"]["postgres_after_run"] = rss_mb([ours.postmaster() or 0])


# --- the tables -----------------------------------------------------------------------------------------


def fmt(value: Any, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, float):
        return f"{value:>{width}.1f}" if abs(value) >= 100 else f"{value:>{width}.2f}"
    return f"{value:>{width}}"


def add_overheads(cells: list[dict[str, Any]]) -> None:
    """Each cell's p50/p99 minus direct's at the same delay and connections."""
    direct = {(c["delay_ms"], c["connections"]): c for c in cells if c["target"] == "direct"}
    for cell in cells:
        base = direct.get((cell["delay_ms"], cell["connections"]))
        cell["overhead_p50_ms"] = round(cell["p50_ms"] - base["p50_ms"], 2) if base else None
        cell["overhead_p99_ms"] = round(cell["p99_ms"] - base["p99_ms"], 2) if base else None


def print_tables(report: dict[str, Any]) -> None:
    cells = report["cells"]
    header = ("target", "conn", "req/s", "p50 ms", "p99 ms", "ovh p50", "ovh p99", "CPU ms/req", "of it DB")
    header += ("errors", "cores busy", "other %")
    for delay in sorted({cell["delay_ms"] for cell in cells}):
        print(f"\nUpstream delay {delay} ms ({report['duration_s']} s per cell; overhead = target - direct)")
        print("  cores busy: % busy of each core; other %: CPU spent by anything else, % of one core")
        print(f"{header[0]:<13}{header[1]:>5}" + "".join(f"{title:>11}" for title in header[2:]))
        for cell in (c for c in cells if c["delay_ms"] == delay):
            busy = "/".join(f"{cell[key]:.0f}" for key in sorted(cell) if key.endswith("_busy_pct"))
            values = [cell[key] for key in ("rps", "p50_ms", "p99_ms", "overhead_p50_ms", "overhead_p99_ms")]
            values += [cell["cpu_ms_per_req"], cell["db_cpu_ms_per_req"], cell["errors"]]
            print(
                f"{cell['target']:<13}{cell['connections']:>5}"
                + "".join(fmt(value, 11) for value in values)
                + f"{busy:>11}"
                + fmt(cell["other_cpu_pct"], 11)
            )
            if cell["errors"]:
                print(f"{'':<18}errors: {cell['non200_statuses'] or 'socket errors or timeouts'}")
    if report["capacity"]:
        print(f"\nCapacity: {report['streams']} concurrent streams, upstream's first chunk after 2,000 ms")
        titles = ("target", "errors", "TTFT p50", "TTFT p99", "ovh p50", "ovh p99", "ovh max", "wall s")
        titles += ("CPU ms/str", "RSS MB", "other %")
        print(f"{titles[0]:<13}" + "".join(f"{title:>11}" for title in titles[1:]))
        for row in report["capacity"]:
            keys = ("errors", "ttft_p50_ms", "ttft_p99_ms", "ttft_overhead_p50_ms", "ttft_overhead_p99_ms")
            keys += ("ttft_overhead_max_ms", "wall_s", "cpu_ms_per_req", "rss_mb_after", "other_cpu_pct")
            print(f"{row['target']:<13}" + "".join(fmt(row[key], 11) for key in keys))
            if row["error_kinds"]:
                print(f"{'':<13}errors: {row['error_kinds']}")
    if report["rss_mb"]:
        print("\nRSS (MB, VmRSS summed over the process tree)")
        for gateway, figures in report["rss_mb"].items():
            print(
                f"  {gateway:<9} "
                + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in figures.items())
            )
    for name, why in report["skipped"].items():
        print(f"\nskipped {name}: {why}")
    print(f"\n{report['cores'].get('description', '')}")
    if workers := report.get("api_workers"):
        print(f"our API: API_WORKERS {workers['setting']}, {workers['processes']} process(es)")
    print(f"open files: {report['open_files']}")
    print(f"CPU busy before the run (other programs): {report.get('background_cpu_pct')}% of one core")


def meta(args: argparse.Namespace) -> dict[str, Any]:
    def git(*command: str) -> str:
        return subprocess.run(["git", *command], capture_output=True, text=True, cwd=ROOT).stdout.strip()

    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {key: str(value) for key, value in vars(args).items()},
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "cpus": os.cpu_count(),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
        if shutil.which("wrk")
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per cell")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per target and delay")
    parser.add_argument("--connections", default="1,4,16,64")
    parser.add_argument("--delays", default="0,500", help="upstream delays in ms")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams of the capacity run")
    parser.add_argument("--api-workers", type=int, default=1, help="our API processes (API_WORKERS)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data" / "bench", help="our DATA_DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gateway.json")
    args = parser.parse_args()

    report: dict[str, Any] = {
        "meta": meta(args),
        "duration_s": args.duration,
        "streams": args.streams,
        "cells": [],
        "capacity": [],
        "rss_mb": {},
        "skipped": {},
        "cores": {},
        "open_files": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    workdir.chmod(0o755)
    processes = Processes()
    cleanups: list[Callable[[], None]] = []
    started = time.monotonic()
    try:
        run(args, workdir, processes, cleanups, report)
    except KeyboardInterrupt:
        report["error"] = "interrupted"
        log("interrupted: stopping what was started")
    except Exception as error:
        report["error"] = f"{type(error).__name__}: {error}"
        log(f"failed: {report['error']} (logs in {workdir})")
        raise
    finally:
        for stop in reversed(cleanups):
            stop()
        processes.stop_all()
        add_overheads(report["cells"])
        report["wall_s"] = round(time.monotonic() - started, 1)
        out = args.out if args.out.is_absolute() else Path.cwd() / args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        if report["cells"] or report["capacity"]:
            print_tables(report)
        print(f"\nwhole run {report['wall_s']} s; written to {out}; logs in {workdir}")


if __name__ == "__main__":
    main()
