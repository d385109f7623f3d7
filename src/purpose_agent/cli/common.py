"""What the commands share: settings and logging, one-line failures, the database, the embedder check."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TextIO

import typer

from purpose_agent.db.embedded import EmbeddedPostgres
from purpose_agent.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def fail(message: str) -> typer.Exit:
    """Say what is wrong on stderr; the caller raises the exit (code 2) this returns."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def settings_and_logging(log_stream: TextIO | None = None) -> Settings:
    """The settings, validated (a bad one stops the command in one line), with logs and traces set up."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None
    from purpose_agent.composition import configure_telemetry

    configure_telemetry(settings, log_stream)
    return settings


def embedded_database(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.database.embedded_dir, settings.database.embedded_port)


def unreachable_database(settings: Settings) -> typer.Exit:
    """The one line for a database that does not answer, with what to do about it."""
    embedded = settings.database.uses_embedded
    hint = "start it with `purpose-agent db start`" if embedded else "check DATABASE_URL"
    return fail(f"cannot reach the database; {hint}")


def migrate_database(settings: Settings) -> None:
    from sqlalchemy.exc import OperationalError

    from purpose_agent.db.migrate import MigrationError, upgrade

    try:
        upgrade(settings.database.sqlalchemy_url())
    except OperationalError:
        raise unreachable_database(settings) from None
    except MigrationError as exc:
        raise fail(str(exc)) from None


def check_embedder(settings: Settings) -> None:
    """Stop before serving when the index holds vectors of another embedder than the configured one."""
    from sqlalchemy.exc import OperationalError

    from purpose_agent.composition import embedder_from
    from purpose_agent.db.engine import create_engine, create_sessionmaker
    from purpose_agent.knowledge.index import EmbedderMismatch, check_index

    embedder = embedder_from(settings)

    async def check() -> None:
        engine = create_engine(settings.database.sqlalchemy_url(), pool_size=1, connect_timeout=5)
        try:
            async with create_sessionmaker(engine)() as session:
                await check_index(session, embedder.name, embedder.dimension)
        finally:
            await engine.dispose()
            await embedder.aclose()

    try:
        asyncio.run(check())
    except EmbedderMismatch as exc:
        raise fail(str(exc)) from None
    except OperationalError:
        raise unreachable_database(settings) from None


def stop_child(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it hangs for 30 s."""
    from purpose_agent.kit.supervisor import stop_process

    stop_process(process)


@contextlib.asynccontextmanager
async def database_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One session in one transaction, committed at the end, on an engine of its own."""
    from purpose_agent.db.engine import create_engine, create_sessionmaker

    engine = create_engine(settings.database.sqlalchemy_url(), pool_size=1, connect_timeout=5)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()
