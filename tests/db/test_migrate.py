"""`purpose-agent migrate`: the schema from nothing, and one line when the server cannot hold it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from purpose_agent.db.migrate import MigrationError, upgrade
from tests.databases import fresh_database

COMMAND = str(Path(sys.executable).with_name("purpose-agent"))


def migrate(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "APP_ENV": "development"}
    return subprocess.run(
        [COMMAND, "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def test_migrate_builds_the_schema_of_an_empty_database(database_url: str, tmp_path: Path) -> None:
    with fresh_database(database_url) as url:
        result = migrate(url, tmp_path)
        assert result.returncode == 0, result.stderr
        assert "database is up to date" in result.stdout
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'").fetchone()
            assert conn.execute("SELECT to_regclass('chunks')").fetchone() != (None,)


def test_a_server_without_pgvector_stops_the_migration_at_once_with_one_line(
    database_url: str, tmp_path: Path
) -> None:
    with fresh_database(database_url, pgvector=False) as url:
        result = migrate(url, tmp_path)
        assert result.returncode == 2
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: the PostgreSQL server of 127.0.0.1:")
        assert "has no pgvector extension" in line
        # Nothing was applied: not even Alembic's own table.
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,)


def test_a_failing_migration_is_one_line_naming_the_database(database_url: str) -> None:
    with fresh_database(database_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            # A table of ours already there, not made by the migrations: the one that creates it fails.
            conn.execute("CREATE TABLE personas (id text)")
        with pytest.raises(
            MigrationError, match=r"a migration failed on 127\.0\.0\.1:\d+/purpose_agent_\w+: "
        ):
            upgrade(url.replace("postgresql://", "postgresql+psycopg://", 1))
