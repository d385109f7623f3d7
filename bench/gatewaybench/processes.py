"""Every process the bench starts: placing it on cores, and stopping it by pid.

`Processes` starts each command in a session of its own, remembers it, and stops it (SIGTERM, then
SIGKILL, then any descendant that outlived it) by pid, all of them in reverse order at the end, on
Ctrl-C and on error alike. `Cores` plans which cores the upstream, the load generators and the
gateway under test get; `taskset` and `pin_tree` hold them there. Also the system set-up a run
needs: Debian packages installed once with their services kept from starting, and the open-file
limit raised for the capacity run.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatewaybench.common import log


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
