"""Liveness and readiness: public, cheap, and honest about what failed."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request

from purpose_agent import __version__
from purpose_agent.health.schemas import CheckRead, Liveness, ProviderRead, Readiness
from purpose_agent.health.service import CheckStatus, ReadinessService
from purpose_agent.kit.app_context import context_of
from purpose_agent.kit.problems import ServiceUnavailable, problem_responses

router = APIRouter(prefix="/health", tags=["health"])


class HealthContext(Protocol):
    """The part of the application context that readiness reads."""

    @property
    def readiness(self) -> ReadinessService: ...


def readiness_service(request: Request) -> ReadinessService:
    context: HealthContext = context_of(request)
    return context.readiness


class NotReady(ServiceUnavailable):
    title = "Not ready"
    slug = "not-ready"


@router.get("")
async def liveness() -> Liveness:
    """The process is up and serving; no dependency is called."""
    return Liveness(status="ok", version=__version__)


@router.get("/ready", responses=problem_responses(NotReady))
async def readiness(
    service: Annotated[ReadinessService, Depends(readiness_service)],
) -> Readiness:
    """200 while this process can serve (`degraded` when it serves on a fallback, e.g. without Redis);
    503 problem naming what fails when it cannot (its database)."""
    results = await service.check()
    checks = {
        result.name: CheckRead(status=result.status, latency_ms=result.latency_ms, detail=result.detail)
        for result in results
    }
    providers = {
        name: ProviderRead.model_validate(state) for name, state in (await service.providers()).items()
    }
    failed = [result.name for result in results if result.status is CheckStatus.failed]
    if failed:
        raise NotReady(
            f"Not ready: {', '.join(failed)} failed.",
            failed=failed,
            checks={name: check.model_dump() for name, check in checks.items()},
            providers={name: provider.model_dump() for name, provider in providers.items()},
        )
    degraded = any(result.status is CheckStatus.degraded for result in results)
    return Readiness(status="degraded" if degraded else "ready", checks=checks, providers=providers)
