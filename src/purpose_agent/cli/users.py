"""`purpose-agent users`: users who sign in with a password."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from purpose_agent.cli.common import database_session, fail, settings_and_logging

users_app = typer.Typer(help="Users who sign in with a password (POST /api/auth/token).")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Letters, digits, '.', '_' or '-'; 3 to 64.")],
    admin: Annotated[bool, typer.Option("--admin", help="Give the user the admin role.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user; the password is asked twice (or read from stdin), never taken as an argument."""
    from purpose_agent.auth.principal import Role
    from purpose_agent.auth.users import create_user
    from purpose_agent.kit.problems import ProblemError

    settings = settings_and_logging()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)

    async def create() -> None:
        async with database_session(settings) as session:
            await create_user(
                session, username=username, password=password, role=Role.admin if admin else Role.user
            )

    try:
        asyncio.run(create())
    except ProblemError as exc:
        raise fail(exc.detail) from None
    typer.echo(f"created {'admin' if admin else 'user'} {username.strip().lower()}")
