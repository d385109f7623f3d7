"""What each HTTP request adds to the metrics: counted and timed by route template, method and status.

Recorded by the outermost middleware (`kit.request_context`) when the response ends, so that what
the middlewares refuse before routing (429, 413, a redirect to HTTPS) counts too. The route is the
template the router matched (`/api/sessions/{session_id}`), never the path, so a client cannot
create series by inventing paths: a 404 that matched nothing is `unmatched`, and a request refused
before routing is matched against the app's routes then (a rare path: the routes are walked once;
the app hands them over, since FastAPI keeps included routers' routes out of its own list). Methods
outside the seven an API uses are `other`.

Hot path: the labelled children are kept by their label values, so a request costs a few dict
lookups and the metric updates themselves (`bench/metrics_overhead.py` measures it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from purpose_agent.kit.metrics import HTTP_DURATION, HTTP_IN_FLIGHT, HTTP_REQUESTS

UNMATCHED = "unmatched"
OTHER_METHOD = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope, status: int, root_path: str = "", routes: Sequence[BaseRoute] = ()) -> str:
    """The template of the route that served (or, among `routes`, would have served) the request.

    `root_path` is the scope's root path before routing: a mount changes it to its own prefix.
    """
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path_format", UNMATCHED))
    mounted = str(scope.get("root_path", ""))
    if mounted != root_path:
        return mounted[len(root_path) :] + "/{path}"
    if status == 404:
        return UNMATCHED
    # Refused before routing: the routes say which one it was for.
    for candidate in routes:
        match, _ = candidate.matches(scope)
        if match is not Match.NONE:
            return str(getattr(candidate, "path_format", UNMATCHED))
    return UNMATCHED


class HttpMetrics:
    """Records requests into the HTTP metrics; one per app, with its routes (for requests refused before
    routing)."""

    def __init__(self, routes: Sequence[BaseRoute] = ()) -> None:
        self.routes = routes
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def started(self) -> None:
        """A request came in."""
        HTTP_IN_FLIGHT.inc()

    def finished(self, scope: Scope, status: int, seconds: float, root_path: str = "") -> None:
        """A request ended with `status` after `seconds`."""
        HTTP_IN_FLIGHT.dec()
        route = route_template(scope, status, root_path, self.routes)
        method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(route, method, str(status))
            self._counters[(route, method, status)] = counter
        counter.inc()
        timer = self._timers.get((route, method))
        if timer is None:
            timer = self._timers[(route, method)] = HTTP_DURATION.labels(route, method)
        timer.observe(seconds)
