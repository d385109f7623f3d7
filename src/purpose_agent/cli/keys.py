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
    agent: Annotated[
        list[str] | None,
        typer.Option("--agent", help="Limit the key to this agent (a persona id); repeat for several."),
    ] = None,
    operation: Annotated[
        list[str] | None,
        typer.Option("--operation", help="Limit the key to this operation (chat, search, mcp); repeat."),
    ] = None,
    requests_per_day: Annotated[
        int | None, typer.Option(help="Quota: admitted requests per UTC day.")
    ] = None,
    tokens_per_day: Annotated[
        int | None, typer.Option(help="Quota: prompt plus completion tokens per UTC day.")
    ] = None,
    cost_per_month_usd: Annotated[
        float | None, typer.Option(help="Quota: estimated cost in US dollars per UTC month.")
    ] = None,
) -> None:
    """Create an API key and print it; it is stored only as a digest and never shown again. Without
    --agent or --operation it may use every agent and operation; without quotas it has none."""
    from datetime import UTC, datetime, timedelta

    from pydantic import ValidationError

    from purpose_agent.auth.keys import LIMIT_FIELDS, create_key
    from purpose_agent.auth.principal import Role
    from purpose_agent.auth.schemas import KeyLimits
    from purpose_agent.auth.scopes import check_agents_exist
    from purpose_agent.kit.problems import ProblemError
    from purpose_agent.personas.queries import AgentDirectory

    settings = settings_and_logging()
    if role not in {member.value for member in Role}:
        raise fail(f"unknown role {role!r} (known: user, admin)")
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        limits = KeyLimits(
            agents=agent or None,
            operations=operation or None,
            requests_per_day=requests_per_day,
            tokens_per_day=tokens_per_day,
            cost_per_month_usd=cost_per_month_usd,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise fail(problems) from None

    async def create() -> str:
        async with database_session(settings) as session:
            await check_agents_exist(session, AgentDirectory(), limits.agents)
            issued = await create_key(
                session,
                name=name,
                role=Role(role),
                created_by="cli",
                expires_at=expires,
                limits=limits.model_dump(include=set(LIMIT_FIELDS)),
            )
            return issued.secret

    try:
        typer.echo(asyncio.run(create()))
    except ProblemError as exc:
        raise fail(exc.detail) from None


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
