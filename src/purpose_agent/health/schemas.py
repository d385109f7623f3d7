"""Shapes of the health responses."""

from __future__ import annotations

from pydantic import BaseModel, computed_field

from purpose_agent.health.service import CheckStatus


class Liveness(BaseModel):
    status: str
    version: str


class CheckRead(BaseModel):
    status: CheckStatus
    latency_ms: float | None = None
    detail: str | None = None


class ProviderRead(BaseModel):
    configured: bool
    in_chain: bool
    model: str
    breaker: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, CheckRead]
    providers: dict[str, ProviderRead]

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy cannot see it
    @property
    def degraded(self) -> list[str]:
        """The checks that pass on a fallback (ready, but worth an operator's look)."""
        return [name for name, check in self.checks.items() if check.status is CheckStatus.degraded]
