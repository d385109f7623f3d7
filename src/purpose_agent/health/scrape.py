"""GET /metrics: Prometheus' scrape of the API (of every API process together, with several).

Left out of the OpenAPI document and of the rate limits (`kit.rate_limit_middleware` exempts it: a
scraper must always get through). Served to loopback clients, and to others that present
METRICS_TOKEN (`kit.metrics_access`); anyone else gets a 403 problem. Before rendering, readiness
runs again if its last run is stale and the breakers' states are read, so that their gauges are
current whatever else happened since.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter, Request, Response

from purpose_agent.health.service import ReadinessService
from purpose_agent.kit.app_context import context_of
from purpose_agent.kit.metrics_access import FORBIDDEN_SLUG, FORWARDING_HEADERS, MetricsAccess
from purpose_agent.kit.metrics_exposition import CONTENT_TYPE, MetricsExposition
from purpose_agent.kit.problems import ProblemError

router = APIRouter()

METRICS_PATH = "/metrics"


class ScrapeContext(Protocol):
    """The parts of the application context a scrape reads."""

    @property
    def metrics(self) -> MetricsExposition: ...

    @property
    def metrics_access(self) -> MetricsAccess: ...

    @property
    def readiness(self) -> ReadinessService: ...


class MetricsForbidden(ProblemError):
    status = 403
    title = "Forbidden"
    slug = FORBIDDEN_SLUG


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """This service's metrics in Prometheus' text format."""
    context: ScrapeContext = context_of(request)
    allowed = context.metrics_access.allows(
        # As the rate-limit middleware resolved it: the peer, or what a trusted proxy reported.
        client=getattr(request.state, "client_address", None),
        forwarded=any(name in request.headers for name in FORWARDING_HEADERS),
        authorization=request.headers.get("authorization"),
    )
    if not allowed:
        raise MetricsForbidden(context.metrics_access.refusal())
    await context.readiness.refresh_metrics()
    return Response(context.metrics.render(), media_type=CONTENT_TYPE)
