"""`purpose-agent personas`: import a personas file (JSON or YAML), export every persona as JSON."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from purpose_agent.cli.common import database_session, fail, settings_and_logging
from purpose_agent.settings import Settings

personas_app = typer.Typer(help="Personas: import from a JSON or YAML file, export to JSON.")


@personas_app.command("import")
def personas_import(
    file: Annotated[Path, typer.Argument(help='A file {"personas": [...]}: JSON, or YAML when .yaml/.yml.')],
) -> None:
    """Create or update the file's personas (others are left alone); an invalid file changes nothing."""
    for persona_id, outcome in import_personas_file(settings_and_logging(), file):
        typer.echo(f"{outcome:<9} {persona_id}")


@personas_app.command("export")
def personas_export(
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write every persona as a JSON personas file that `personas import` reads back unchanged."""
    from sqlalchemy.exc import OperationalError

    from purpose_agent.kit.data_files import YAML_SUFFIXES
    from purpose_agent.personas.config_file import export_personas

    settings = settings_and_logging()
    if output is not None and output.suffix.lower() in YAML_SUFFIXES:
        raise fail(f"{output}: export writes JSON; name the file .json")

    async def export() -> str:
        async with database_session(settings) as session:
            return await export_personas(session)

    try:
        text = asyncio.run(export())
    except OperationalError:
        raise fail("cannot reach the database; is it started and migrated?") from None
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def import_personas_file(settings: Settings, path: Path) -> list[tuple[str, str]]:
    """Validate the whole file, then upsert it in one transaction: an invalid file changes nothing."""
    from sqlalchemy.exc import OperationalError

    from purpose_agent.personas.config_file import PersonaFileInvalid, import_personas, read_file

    try:
        personas = read_file(path)
    except PersonaFileInvalid as exc:
        for line in exc.errors:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(code=2) from None

    async def upsert() -> list[tuple[str, str]]:
        async with database_session(settings) as session:
            return [
                (persona_id, str(outcome)) for persona_id, outcome in await import_personas(session, personas)
            ]

    try:
        return asyncio.run(upsert())
    except OperationalError:
        raise fail("cannot reach the database; is it started and migrated?") from None
