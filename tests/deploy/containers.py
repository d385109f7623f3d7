"""Podman and nginx as the container tests drive them: the image built from the Dockerfile, containers
on the host's network (they reach the test PostgreSQL and Redis on 127.0.0.1 and listen there), and
nginx from Debian as a process balancing the API replicas with the shipped deploy/proxy/proxy.conf.

Every container and process started here is stopped by its id at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.conftest import PROJECT_ROOT

CONTAINERS_CONF = PROJECT_ROOT / "deploy" / "podman" / "containers.conf"
BASE_IMAGE_SCRIPT = PROJECT_ROOT / "scripts" / "container-base-image.sh"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def missing_tools() -> str | None:
    """Why the container tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "podman runs the containers as root here"
    for tool in ("podman", "nginx", "debootstrap"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (scripts/install-test-tools.sh installs it)"
    return None


class Podman:
    """The podman command with the project's engine settings (runc, cgroupfs, file events, ulimits)."""

    def __init__(self) -> None:
        self.env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
        self.started: list[str] = []

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, check=False, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args[:3])} failed: {result.stderr[-2000:]}")
        return result

    def base_image(self) -> str:
        """The local Debian base image: made once per machine with debootstrap, then cached."""
        result = subprocess.run(
            ["bash", str(BASE_IMAGE_SCRIPT)], env=self.env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    def build(self, tag: str, base_image: str) -> None:
        secret = ["--secret", f"id=cacert,src={CA_BUNDLE}"] if CA_BUNDLE.is_file() else []
        self.run(
            "build",
            "--format",
            "docker",
            "--network",
            "host",
            *secret,
            "--build-arg",
            f"BASE_IMAGE={base_image}",
            "--tag",
            tag,
            str(PROJECT_ROOT),
            timeout=900,
        )

    def once(self, image: str, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
        """`podman run --rm image command`, as a one-off job (migrate, keys, personas) would run."""
        return self.run("run", "--rm", "--network", "host", *_env(env), image, *command, check=False)

    def start(
        self, name: str, image: str, env: dict[str, str], *command: str, volumes: tuple[str, ...] = ()
    ) -> str:
        """A detached container on a read-only root file system; its state goes to the /data volume."""
        mounts = [option for volume in volumes for option in ("--volume", volume)]
        result = self.run(
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "host",
            "--read-only",
            # No systemd timer here: the tests run the health check themselves (`podman healthcheck run`).
            "--health-interval",
            "disable",
            *mounts,
            *_env(env),
            image,
            *command,
        )
        container = result.stdout.strip().splitlines()[-1]
        self.started.append(container)
        return container

    def kill(self, container: str) -> None:
        self.run("kill", "--signal", "KILL", container)

    def stop(self, container: str, *, grace_seconds: int) -> None:
        """SIGTERM, then SIGKILL if the container is still running after `grace_seconds`."""
        self.run("stop", "--time", str(grace_seconds), container, timeout=grace_seconds + 30)

    def remove_all(self) -> None:
        for container in self.started:
            self.run("rm", "--force", "--volumes", container, check=False)
        self.started.clear()


def _env(env: dict[str, str]) -> list[str]:
    return [option for name, value in env.items() for option in ("--env", f"{name}={value}")]


def wait_ready(base_url: str, timeout: float = 60) -> float:
    """Seconds until `base_url`/health/ready answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base_url} was not ready within {timeout} s")


class Nginx:
    """nginx as a process on 127.0.0.1:`port`, round-robin over `upstreams` with deploy/proxy/proxy.conf."""

    def __init__(self, port: int, upstreams: list[int]) -> None:
        self.port = port
        # Outside pytest's private folder: nginx's workers run as nobody and write their temp files here.
        self.folder = Path(tempfile.mkdtemp(prefix="purpose-agent-nginx-"))
        self.folder.chmod(0o755)
        temp = self.folder / "temp"
        temp.mkdir(mode=0o777)
        temp.chmod(0o777)
        servers = "\n".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in upstreams)
        self.config = self.folder / "nginx.conf"
        self.config.write_text(
            f"""
daemon off;
worker_processes 1;
pid {self.folder}/nginx.pid;
error_log {self.folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {self.folder}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    map $http_x_request_id $request_id_or_new {{
        default $http_x_request_id;
        "" $request_id;
    }}
    upstream purpose_agent_api {{
        {servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://purpose_agent_api;
            include {PROJECT_ROOT / "deploy" / "proxy" / "proxy.conf"};
        }}
    }}
}}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen(
            [nginx, "-c", str(self.config), "-e", str(self.folder / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_ready(self.base_url)
        return self

    def retried(self) -> int:
        """Requests nginx passed to another replica after one failed (its error log says so)."""
        log = (self.folder / "error.log").read_text()
        return log.count("while connecting to upstream") + log.count("while reading response header")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
