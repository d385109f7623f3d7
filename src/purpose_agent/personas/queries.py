"""The read side of personas: one persona, all of them, and the agents a caller may talk to."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.personas import repository
from purpose_agent.personas.errors import PersonaNotFound
from purpose_agent.personas.schemas import AgentRead, PersonaRead


async def get_persona(session: AsyncSession, persona_id: str) -> PersonaRead:
    """The persona with every setting; 404 when unknown."""
    persona = await repository.get_persona(session, persona_id)
    if persona is None:
        raise PersonaNotFound(f"There is no persona with the id '{persona_id}'.")
    return PersonaRead.model_validate(persona)


async def list_personas(session: AsyncSession) -> list[PersonaRead]:
    """Every persona with every setting, by id."""
    return [PersonaRead.model_validate(persona) for persona in await repository.list_personas(session)]


async def list_agents(session: AsyncSession, only: Collection[str] | None = None) -> list[AgentRead]:
    """Every agent as a caller picks one (those of `only`, when given: a caller's scope): id, name,
    description and knowledge category, by id."""
    return [
        AgentRead(id=persona_id, name=name, description=description, knowledge_category=category)
        for persona_id, name, description, category in await repository.list_agents(session, only)
    ]


class AgentDirectory:
    """What other packages ask of the agents, by id: which exist, and the categories they answer from."""

    async def unknown_agents(self, session: AsyncSession, agent_ids: Collection[str]) -> list[str]:
        """Those of `agent_ids` that name no persona, sorted."""
        known = {agent.id for agent in await list_agents(session, agent_ids)}
        return sorted(set(agent_ids) - known)

    async def categories_of(self, session: AsyncSession, agent_ids: Collection[str]) -> frozenset[str]:
        """The knowledge categories these agents answer from (agents without retrieval have none)."""
        return frozenset(
            agent.knowledge_category
            for agent in await list_agents(session, agent_ids)
            if agent.knowledge_category is not None
        )
