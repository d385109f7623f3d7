"""`purpose-agent migrate` and `purpose-agent db`: the schema, and the embedded PostgreSQL in DATA_DIR."""

from __future__ import annotations

import typer

from purpose_agent.cli.common import embedded_database, fail, migrate_database, settings_and_logging
from purpose_agent.db.embedded import EmbeddedDatabaseError

db_app = typer.Typer(help="The embedded PostgreSQL in DATA_DIR (unused when DATABASE_URL is set).")


def migrate() -> None:
    """Apply the database migrations (DATABASE_URL, or the embedded database)."""
    settings = settings_and_logging()
    migrate_database(settings)
    typer.echo("database is up to date")


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
