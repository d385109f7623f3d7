"""Apply the Alembic migrations shipped inside the package, from code or from the command line."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool


class MigrationError(Exception):
    """The schema could not be brought up to date; the message is one line naming the cause."""


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for `database_url` that needs no alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", "purpose_agent:migrations")
    # ConfigParser interpolation would read a '%' in a password as a reference.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema of `database_url` up to `revision`.

    Raises `MigrationError` when the server lacks pgvector or a migration fails, and SQLAlchemy's
    `OperationalError` when the server cannot be reached.
    """
    require_pgvector(database_url)
    try:
        command.upgrade(alembic_config(database_url), revision)
    except OperationalError:
        raise
    except DBAPIError as exc:
        raise MigrationError(f"a migration failed on {_where(database_url)}: {_first_line(exc)}") from None


def require_pgvector(database_url: str) -> None:
    """Fail before any migration runs when the server cannot give the database pgvector."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            available = connection.execute(
                text("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')")
            ).scalar_one()
    finally:
        engine.dispose()
    if not available:
        raise MigrationError(
            f"the PostgreSQL server of {_where(database_url)} has no pgvector extension ('vector' is not "
            "available): install pgvector there (the pgvector/pgvector:pg16 image has it)"
        )


def _where(database_url: str) -> str:
    url = make_url(database_url)
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _first_line(exc: DBAPIError) -> str:
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__
