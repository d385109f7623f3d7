"""GET /api/auth/me: who the presented credentials are, so that a client (the web console) offers
only what that principal may use. The API still checks every call; this only spares a user the pages
it would refuse."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from purpose_agent.auth.dependencies import UserPrincipal
from purpose_agent.auth.principal import Role

router = APIRouter(tags=["auth"])


class PrincipalRead(BaseModel):
    id: str
    name: str
    role: Role


@router.get("/api/auth/me")
async def who_am_i(principal: UserPrincipal) -> PrincipalRead:
    """The caller's identity and role."""
    return PrincipalRead(id=principal.id, name=principal.name, role=principal.role)
