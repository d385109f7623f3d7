"""The fake upstream: one nginx answering like OpenAI's chat completions, after a set delay.

Debian's nginx-light with the echo module (installed on first use) answers a JSON completion, or a
short SSE stream when the body says `"stream": true`, after the delay named in the model
(`fake-d500`: 500 ms). `start_nginx` writes its configuration, starts it on its own core through
`Processes` (so it is stopped by pid like everything else) and checks its first answer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from gatewaybench.common import free_port, http, wait_until
from gatewaybench.processes import Processes, apt_install, taskset

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
