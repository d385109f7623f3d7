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
    admin_url = libpq_url(database_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if not pgvector and admin.info.server_version < 180000:
            _drop(admin_url, name)
            pytest.skip("hiding pgvector from one database needs PostgreSQL 18")
        if not pgvector:
            admin.execute(
                sql.SQL("ALTER DATABASE {} SET extension_control_path = '/nonexistent'").format(
                    sql.Identifier(name)
                )
            )
    try:
        yield libpq_url(database_url, name)
    finally:
        # A connection of its own: one held meanwhile would not outlive a server restarted by the test.
        _drop(admin_url, name)


def _drop(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
