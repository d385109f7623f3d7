"""What a chat needs of a persona, as an immutable value, and a short-lived cache of them.

Every question reads its persona; personas change rarely. A cached profile lives for a few seconds
(`PERSONA_CACHE_SECONDS`) and is dropped at once by a write through this process, so another
replica sees a persona's change within that time and this one on its next request.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.kit.loading_cache import LoadingCache
from purpose_agent.personas import repository
from purpose_agent.personas.models import Persona

CACHED_PERSONAS = 4096


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """A persona's settings as chat reads them."""

    id: str
    instructions: str
    retrieval: bool
    knowledge_category: str | None
    temperature: float
    max_tokens: int
    llm_chain: tuple[str, ...] | None
    llm_model: str | None
    top_k: int
    min_score: float
    updated_at: datetime

    @classmethod
    def of(cls, persona: Persona) -> AgentProfile:
        values = {field.name: getattr(persona, field.name) for field in fields(cls)}
        values["llm_chain"] = tuple(persona.llm_chain) if persona.llm_chain else None
        return cls(**values)


class ProfileCache:
    """Profiles by persona id for `ttl_seconds` (0: no caching); unknown ids are never cached."""

    def __init__(self, ttl_seconds: float) -> None:
        self._profiles: LoadingCache[str, AgentProfile] = LoadingCache(ttl_seconds, CACHED_PERSONAS)

    async def get(
        self, sessionmaker: async_sessionmaker[AsyncSession], persona_id: str
    ) -> AgentProfile | None:
        """The persona's profile, read in a transaction of its own when not cached; None when unknown."""

        async def load() -> AgentProfile | None:
            async with sessionmaker() as session:
                persona = await repository.get_persona(session, persona_id)
                return AgentProfile.of(persona) if persona is not None else None

        return await self._profiles.get(persona_id, load)

    def forget(self, persona_id: str) -> None:
        """Drop a persona that was just written or deleted."""
        self._profiles.forget(persona_id)

    def clear(self) -> None:
        self._profiles.clear()
