"""`purpose-agent migrate` and `purpose-agent db`: the schema, and the embedded PostgreSQL in DATA_DIR."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from purpose_agent.cli.common import embedded_database, fail, migrate_database, settings_and_logging
from purpose_agent.db.embedded import EmbeddedDatabaseError

db_app = typer.Typer(help="The embedded PostgreSQL in DATA_DIR (unused when DATABASE_URL is set).")


def migrate() -> None:
    """Apply the database migrations (DATABASE_URL, or the embedded database)."""
    settings = settings_and_logging()
    migrate_database(settings)
    typer.echo("database is up to date")


def backup(
    file: Annotated[Path, typer.Argument(help="The archive to write (pg_dump's custom format).")],
) -> None:
    """Back up the database to FILE: every table and stored document, consistent while the service runs."""
    from purpose_agent.db.backup import backup as backup_database

    tool = _with_archive(lambda database_url: backup_database(database_url, file))
    typer.echo(f"backup written to {file} ({file.stat().st_size:,} bytes, {tool})")


def restore(
    file: Annotated[Path, typer.Argument(help="An archive written by `purpose-agent backup`.")],
) -> None:
    """Restore FILE into the configured database, which must be new and empty (DATABASE_URL)."""
    from purpose_agent.db.backup import restore as restore_database

    tool = _with_archive(lambda database_url: restore_database(database_url, file))
    typer.echo(f"restored {file} ({tool}); run `purpose-agent migrate` if it was made by an older version")


def _with_archive(operation: Callable[[str], str]) -> str:
    """Run a backup or a restore on the configured database; a failure is one line and exit 2."""
    from purpose_agent.db.backup import BackupError

    settings = settings_and_logging()
    try:
        return operation(settings.database.sqlalchemy_url())
    except BackupError as exc:
        raise fail(str(exc)) from None


@db_app.command("start")
def db_start() -> None:
    """Start the embedded database (creating it on first use) and create the application database."""
    settings = settings_and_logging()
    if not settings.database.uses_embedded:
        raise fail("DATABASE_URL is set: the embedded database is not used")
    try:
        status = embedded_database(settings).start(databases=(settings.database.embedded_name,))
    except EmbeddedDatabaseError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"embedded database running: pid {status.pid}, 127.0.0.1:{status.port}, {status.data_dir}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded database."""
    settings = settings_and_logging()
    stopped = embedded_database(settings).stop()
    typer.echo("embedded database stopped" if stopped else "embedded database was not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded database runs; exit 1 when it does not."""
    settings = settings_and_logging()
    status = embedded_database(settings).status()
    if not status.running:
        typer.echo(f"embedded database is not running ({status.data_dir})")
        raise typer.Exit(code=1)
    typer.echo(f"embedded database running: pid {status.pid}, 127.0.0.1:{status.port}, {status.data_dir}")
