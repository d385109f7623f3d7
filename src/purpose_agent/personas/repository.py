"""Every SQL statement of the personas: the table itself, and the sessions that talk to a persona."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.personas.models import Persona


async def get_persona(session: AsyncSession, persona_id: str, *, for_update: bool = False) -> Persona | None:
    """The persona, locked against concurrent writers when `for_update`."""
    return await session.get(Persona, persona_id, with_for_update=for_update, populate_existing=for_update)


async def list_personas(session: AsyncSession) -> list[Persona]:
    """Every persona, by id."""
    return list(await session.scalars(select(Persona).order_by(Persona.id)))


async def list_agents(
    session: AsyncSession, only: Collection[str] | None = None
) -> list[tuple[str, str, str, str | None]]:
    """The id, name, description and category of every persona (of those in `only`, when given), by id."""
    query = select(Persona.id, Persona.name, Persona.description, Persona.knowledge_category)
    if only is not None:
        query = query.where(Persona.id.in_(list(only)))
    rows = await session.execute(query.order_by(Persona.id))
    return [(persona_id, name, description, category) for persona_id, name, description, category in rows]


async def insert_persona(session: AsyncSession, values: dict[str, Any]) -> Persona | None:
    """The inserted persona, or None when the id is taken (atomic: two racing inserts never both win)."""
    statement = insert(Persona).values(**values).on_conflict_do_nothing(index_elements=[Persona.id])
    return await session.scalar(statement.returning(Persona))


async def delete_persona(session: AsyncSession, persona: Persona) -> None:
    await session.delete(persona)
    await session.flush()
