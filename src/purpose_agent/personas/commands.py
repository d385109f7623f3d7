"""The write side of personas: create, replace, delete, and the upsert of a personas file.

Each handler flushes and never commits: the request (or the command line's transaction) commits.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.db.notifications import announce
from purpose_agent.personas import repository
from purpose_agent.personas.errors import PersonaExists, PersonaHasSessions, PersonaNotFound
from purpose_agent.personas.models import Persona
from purpose_agent.personas.schemas import PersonaCreate, PersonaRead, PersonaUpdate


class Conversations(Protocol):
    """What deleting a persona needs of its chat sessions (chat implements it: personas sit below
    chat, which reads them, and may not import it)."""

    async def count_live(self, session: AsyncSession, persona_id: str) -> int:
        """How many of the persona's sessions have not expired."""

    async def delete_all(self, session: AsyncSession, persona_id: str) -> None:
        """Delete all of the persona's sessions, live and expired, with their messages."""


class UpsertOutcome(StrEnum):
    """What upserting a persona did."""

    created = "created"
    updated = "updated"
    unchanged = "unchanged"


async def create_persona(session: AsyncSession, data: PersonaCreate) -> PersonaRead:
    """A new persona; 409 when the id is taken."""
    persona = await repository.insert_persona(session, data.model_dump())
    if persona is None:
        raise PersonaExists(f"A persona with the id '{data.id}' already exists.")
    return PersonaRead.model_validate(persona)


async def update_persona(session: AsyncSession, persona_id: str, data: PersonaUpdate) -> PersonaRead:
    """Replace every field of the persona but its id; 404 when unknown."""
    persona = await _locked(session, persona_id)
    await _replace(session, persona, data)
    return PersonaRead.model_validate(persona)


async def delete_persona(
    session: AsyncSession, conversations: Conversations, persona_id: str, *, force: bool = False
) -> None:
    """Delete the persona and its sessions; 409 while a session is live, unless `force`."""
    persona = await _locked(session, persona_id)
    live = await conversations.count_live(session, persona_id)
    if live and not force:
        raise PersonaHasSessions(
            f"The persona '{persona_id}' has {live} live session(s); "
            "wait for them to expire, or delete with force=true to end them.",
            sessions=live,
        )
    await conversations.delete_all(session, persona_id)
    await repository.delete_persona(session, persona)
    await announce_change(session, persona_id)


async def upsert_persona(session: AsyncSession, data: PersonaCreate) -> UpsertOutcome:
    """Create the persona, or replace its fields when they differ; says which it did."""
    persona = await repository.get_persona(session, data.id, for_update=True)
    if persona is None:
        await create_persona(session, data)
        return UpsertOutcome.created
    if _fields(persona) == data.model_dump(exclude={"id"}):
        return UpsertOutcome.unchanged
    await _replace(session, persona, data)
    return UpsertOutcome.updated


async def _locked(session: AsyncSession, persona_id: str) -> Persona:
    persona = await repository.get_persona(session, persona_id, for_update=True)
    if persona is None:
        raise PersonaNotFound(f"There is no persona with the id '{persona_id}'.")
    return persona


def _fields(persona: Persona) -> dict[str, object]:
    return {name: getattr(persona, name) for name in PersonaUpdate.model_fields}


async def announce_change(session: AsyncSession, persona_id: str) -> None:
    """Every process drops its cached profile of the persona when this transaction commits."""
    await announce(session, f"persona:{persona_id}")


async def _replace(session: AsyncSession, persona: Persona, data: PersonaUpdate) -> None:
    for name, value in data.model_dump(exclude={"id"}).items():
        setattr(persona, name, value)
    await session.flush()
    await announce_change(session, persona.id)
    # updated_at is set by the database: read it back.
    await session.refresh(persona)
