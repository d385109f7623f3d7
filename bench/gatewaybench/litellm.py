"""LiteLLM's proxy as a target: its own venv, its configuration, its process.

The proxy (`litellm[proxy]`, pinned, with a fallback to any 1.x) is installed once into a venv of its
own under .data/ and reused. `start_litellm` writes a config with one model per upstream delay, all
pointing at the fake upstream, starts the proxy with 2 workers on the gateway's cores, with no
database, no Redis and no download of the price map, through `Processes`, and checks it answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gatewaybench.common import ROOT, UPSTREAM_KEY, free_port, http, log, wait_until
from gatewaybench.processes import Processes, taskset, tree
from gatewaybench.targets import Target, check_target

LITELLM_VENV = ROOT / ".data" / "bench-litellm-venv"
LITELLM_VERSION = "1.108.7"
LITELLM_KEY = "sk-bench-master-key"


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
