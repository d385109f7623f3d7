"""`purpose-agent keys`: create an API key (shown once) and revoke one."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from purpose_agent.cli.common import database_session, fail, settings_and_logging

keys_app = typer.Typer(help="API keys: create (shown once) and revoke.")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="user or admin.")] = "user",
    name: Annotated[str, typer.Option(help="What the key is for, shown in lists.")] = "api key",
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Refuse the key after this.")] = None,
) -> None:
    """Create an API key and print it; it is stored only as a digest and never shown again."""
    from datetime import UTC, datetime, timedelta

    from purpose_agent.auth.keys import create_key
    from purpose_agent.auth.principal import Role

    settings = settings_and_logging()
    if role not in {member.value for member in Role}:
        raise fail(f"unknown role {role!r} (known: user, admin)")
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None

    async def create() -> str:
        async with database_session(settings) as session:
            issued = await create_key(
                session, name=name, role=Role(role), created_by="cli", expires_at=expires
            )
            return issued.secret

    typer.echo(asyncio.run(create()))


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id or its visible prefix.")]) -> None:
    """Revoke a key: it is refused from its next request on."""
    from datetime import UTC, datetime

    from purpose_agent.auth.keys import revoke_key

    settings = settings_and_logging()

    async def revoke() -> bool:
        async with database_session(settings) as session:
            return await revoke_key(session, key, datetime.now(UTC)) is not None

    if not asyncio.run(revoke()):
        raise fail(f"no live key has the id or prefix {key!r}")
    typer.echo(f"revoked {key}")
