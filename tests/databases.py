"""Databases of their own on the test server, for what a rolled-back transaction cannot show: a
migration from nothing, a server without pgvector, a backup restored into a fresh database."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url


def libpq_url(database_url: str, database: str | None = None) -> str:
    """`database_url` (SQLAlchemy's spelling) as libpq spells it, on `database` if given."""
    url = make_url(database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(database_url: str, *, pgvector: bool = True) -> Iterator[str]:
    """A new empty database on the server of `database_url` (libpq URL), dropped at the end.

    Without `pgvector`, the server is told to find no extension for that database (PostgreSQL 18's
    `extension_control_path`), as a server where pgvector is not installed behaves.
    """
    name = f"purpose_agent_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(database_url, "postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            if not pgvector:
                if admin.info.server_version < 180000:
                    pytest.skip("hiding pgvector from one database needs PostgreSQL 18")
                admin.execute(
                    sql.SQL("ALTER DATABASE {} SET extension_control_path = '/nonexistent'").format(
                        sql.Identifier(name)
                    )
                )
            yield libpq_url(database_url, name)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
