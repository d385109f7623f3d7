"""The personas API: agents for every caller, their full definitions for admins."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Query, Request, Response

from purpose_agent.audit import service as audit
from purpose_agent.auth.dependencies import AdminPrincipal, UserPrincipal
from purpose_agent.db.engine import SessionDep
from purpose_agent.kit.app_context import context_of
from purpose_agent.kit.problems import problem_responses
from purpose_agent.personas import commands, queries
from purpose_agent.personas.commands import Conversations
from purpose_agent.personas.errors import PersonaExists, PersonaHasSessions, PersonaNotFound
from purpose_agent.personas.profile import ProfileCache
from purpose_agent.personas.schemas import AgentRead, PersonaCreate, PersonaRead, PersonaUpdate

router = APIRouter(tags=["personas"])


class PersonasContext(Protocol):
    """The parts of the application context that the persona routes read."""

    @property
    def profiles(self) -> ProfileCache: ...

    @property
    def conversations(self) -> Conversations: ...


def personas_context(request: Request) -> PersonasContext:
    context: PersonasContext = context_of(request)
    return context


def forget_here(request: Request, persona_id: str) -> None:
    """Drop the persona's cached profile in this process at once: the caller's next chat sees the
    change. Every process, this one included, drops it again when the write commits (announced)."""
    personas_context(request).profiles.forget(persona_id)


@router.get("/api/agents")
async def list_agents(session: SessionDep, principal: UserPrincipal) -> list[AgentRead]:
    """The agents the caller may talk to (those of its scope): id (the chat's `agent_id`), name,
    description, knowledge category."""
    return await queries.list_agents(session, principal.scope.agents)


@router.get("/api/personas")
async def list_personas(session: SessionDep, _: AdminPrincipal) -> list[PersonaRead]:
    """Every persona with all its settings, by id."""
    return await queries.list_personas(session)


@router.get("/api/personas/{persona_id}", responses=problem_responses(PersonaNotFound))
async def get_persona(persona_id: str, session: SessionDep, _: AdminPrincipal) -> PersonaRead:
    """One persona with all its settings."""
    return await queries.get_persona(session, persona_id)


@router.post("/api/personas", status_code=201, responses=problem_responses(PersonaExists))
async def create_persona(
    data: PersonaCreate, request: Request, response: Response, session: SessionDep, _: AdminPrincipal
) -> PersonaRead:
    """A new persona; its knowledge category need not exist yet."""
    persona = await commands.create_persona(session, data)
    await audit.record(session, request, action="persona.create", target=persona.id)
    response.headers["Location"] = f"/api/personas/{persona.id}"
    return persona


@router.put("/api/personas/{persona_id}", responses=problem_responses(PersonaNotFound))
async def update_persona(
    persona_id: str, data: PersonaUpdate, request: Request, session: SessionDep, _: AdminPrincipal
) -> PersonaRead:
    """Replace every field of the persona but its id (a field left out takes its default)."""
    persona = await commands.update_persona(session, persona_id, data)
    forget_here(request, persona.id)
    await audit.record(session, request, action="persona.update", target=persona.id)
    return persona


@router.delete(
    "/api/personas/{persona_id}",
    status_code=204,
    responses=problem_responses(PersonaNotFound, PersonaHasSessions),
)
async def delete_persona(
    persona_id: str,
    request: Request,
    session: SessionDep,
    context: Annotated[PersonasContext, Depends(personas_context)],
    _: AdminPrincipal,
    force: Annotated[bool, Query(description="Also end the persona's live sessions.")] = False,
) -> Response:
    """Delete the persona and its sessions; refused (409) while a session is live, unless `force=true`."""
    await commands.delete_persona(session, context.conversations, persona_id, force=force)
    forget_here(request, persona_id)
    await audit.record(session, request, action="persona.delete", target=persona_id, details={"force": force})
    return Response(status_code=204)
