"""Every request counts against its client address, its credential and its route class; 429 past a limit.

Plain ASGI like the other middlewares (see `app.py` for its place): before routing and
authentication, so 401s and 404s count; inside CORS and the security headers, so a 429 carries them
(a browser reads its Retry-After only with CORS headers). What is refused before it (a declared body
over the size limit, the HTTPS redirect) is not counted; it costs nothing. It also resolves the
client address once, for every request, into `request.state.client_address`, for routes that need
it (sign-in throttling); with RATE_LIMIT_ENABLED=false it does only that.

The limits that apply to one request, checked in this order, stopping at the first refusal:

1. per client address (`kit.client_address`: the peer, or what a trusted proxy reports). IPv6
   addresses count per /64, the block one subscriber holds, or a client could walk its own /64
   for a fresh limit at every request;
2. per presented credential (X-API-Key or Authorization: Bearer, as `auth` reads them), keyed by
   its SHA-256: no database lookup happens here, so a made-up credential only gets a bucket of its
   own while the address limit still holds;
3. per route class (chat, MCP: tighter limits), per credential, or per address without one.

Address first: a flood from one address is refused after one Redis call, and a flood of made-up
credentials creates no new keys once its address is over the limit. A refused hit is not counted
by the limit that refused it, so a client that waits for Retry-After gets through; the limits
checked before it did count it, so hammering chat past its limit spends the general allowance too.

Health, the docs, the OpenAPI document and metrics are not limited: probes and scrapers must always
get through. Each refusal counts in `purpose_agent_rate_limit_refusals_total` under the class of the
limit that refused: `default` for the limits per address and per credential, else the route class.

Responses carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (IETF draft; the reset
in seconds) for the tightest applicable limit (fewest hits left); a refusal adds
`Retry-After`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv6Address, IPv6Network

from limits import RateLimitItem
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from purpose_agent.kit.client_address import ClientAddressResolver, IPAddress
from purpose_agent.kit.console import ASSETS_PATH as CONSOLE_ASSETS_PATH
from purpose_agent.kit.console import CONSOLE_PATH
from purpose_agent.kit.docs import DOCS_PATH
from purpose_agent.kit.metrics import RATE_LIMIT_REFUSALS
from purpose_agent.kit.problems import problem_response, scope_problem
from purpose_agent.kit.rate_limit import Decision, RateLimiter, RateLimiterUnavailable, describe

CHAT_PATHS = frozenset({"/api/chat", "/api/chat/stream", "/v1/chat/completions"})
MCP_PATH = "/api/mcp"
# The console's page and assets are static files, like the docs': its API calls are limited as any.
EXEMPT_PATHS = frozenset({"/health", "/openapi.json", "/metrics", DOCS_PATH, CONSOLE_PATH})
EXEMPT_PREFIXES = ("/health/", f"{DOCS_PATH}/", f"{CONSOLE_ASSETS_PATH}/")
IPV6_BLOCK = 64


class RouteClass(StrEnum):
    default = "default"
    chat = "chat"
    mcp = "mcp"


def _normalised(path: str) -> str:
    return path.rstrip("/") or "/"


def is_exempt(path: str) -> bool:
    """Whether requests to `path` are never limited."""
    path = _normalised(path)
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def route_class(path: str) -> RouteClass:
    """The class of limits a path falls under."""
    path = _normalised(path)
    if path in CHAT_PATHS:
        return RouteClass.chat
    if path == MCP_PATH or path.startswith(f"{MCP_PATH}/"):
        return RouteClass.mcp
    return RouteClass.default


def credential_key(headers: Headers) -> str | None:
    """A digest of the presented credential (X-API-Key, else Authorization: Bearer), or None."""
    secret = (headers.get("x-api-key") or "").strip()
    if not secret:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        secret = value.strip() if scheme.lower() == "bearer" else ""
    # 128 bits of SHA-256: unique per credential, and not the digest the keys table stores.
    return hashlib.sha256(secret.encode()).hexdigest()[:32] if secret else None


def address_key(address: IPAddress | None) -> str:
    """The bucket of a client address: IPv4 as is, IPv6 by its /64, `unknown` for no IP peer."""
    if address is None:
        return "unknown"
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, IPV6_BLOCK), strict=False))
    return str(address)


@dataclass(frozen=True)
class RateLimitPolicy:
    """Which limits apply: per address, per credential, and tighter ones per route class."""

    per_ip: tuple[RateLimitItem, ...]
    per_principal: tuple[RateLimitItem, ...]
    per_route: Mapping[RouteClass, tuple[RateLimitItem, ...]] = field(default_factory=dict)
    clients: ClientAddressResolver = field(default_factory=ClientAddressResolver)


@dataclass(frozen=True)
class LimitCheck:
    """One limit to hit for a request: what it is called in a refusal, its key, and its class."""

    label: str
    item: RateLimitItem
    key_parts: tuple[str, ...]
    # The general limits are `default`; a route class's own are that class.
    limit_class: RouteClass = RouteClass.default


def checks_for(policy: RateLimitPolicy, scope: Scope, client: IPAddress | None) -> list[LimitCheck]:
    """The limits a request from `client` counts against, in the order they are hit."""
    address = ("ip", address_key(client))
    credential = credential_key(Headers(scope=scope))
    checks = [LimitCheck("per IP address", item, address) for item in policy.per_ip]
    subject = address
    if credential is not None:
        subject = ("principal", credential)
        checks += [LimitCheck("per credential", item, subject) for item in policy.per_principal]
    route = route_class(scope["path"])
    checks += [
        LimitCheck(f"for {route.value}", item, ("route", route.value, *subject), route)
        for item in policy.per_route.get(route, ())
    ]
    return checks


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """The IETF draft headers for one decision."""
    return {
        "RateLimit-Limit": str(decision.limit.amount),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset_after)),
    }


def refusal_detail(check: LimitCheck, decision: Decision) -> str:
    """The detail of a 429 problem, naming the limit: `Rate limit of 20 per 1 minute for chat ...`."""
    return (
        f"Rate limit of {describe(check.item)} {check.label} reached; "
        f"retry in {decision.retry_after} second{'s' if decision.retry_after != 1 else ''}."
    )


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, policy: RateLimitPolicy) -> None:
        self.app = app
        self.limiter = limiter
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = self.policy.clients.resolve(scope)
        if client is not None:
            # For routes that need the address too (sign-in throttling), resolved the same way.
            scope.setdefault("state", {})["client_address"] = str(client)
        if is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return

        decisions: list[Decision] = []
        try:
            for check in checks_for(self.policy, scope, client):
                decision = await self.limiter.hit(check.item, *check.key_parts)
                if not decision.allowed:
                    await self._refuse(scope, receive, send, check, decision)
                    return
                decisions.append(decision)
        except RateLimiterUnavailable as exc:
            body = scope_problem(scope, exc.status, exc.detail, title=exc.title, slug=exc.slug)
            await problem_response(body, headers=exc.headers)(scope, receive, send)
            return

        if not decisions:
            await self.app(scope, receive, send)
            return
        tightest = min(decisions, key=lambda decision: (decision.remaining, -decision.reset_after))
        headers = rate_limit_headers(tightest)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                # A route that applies a limit of its own (logins) may have reported it already.
                for name, value in headers.items():
                    response_headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, check: LimitCheck, decision: Decision
    ) -> None:
        RATE_LIMIT_REFUSALS.labels(check.limit_class.value).inc()
        body = scope_problem(
            scope,
            429,
            refusal_detail(check, decision),
            title="Rate limited",
            slug="rate-limited",
            extensions={
                "limit": describe(check.item),
                "applies": check.label,
                "retry_after": decision.retry_after,
            },
        )
        headers = {"Retry-After": str(decision.retry_after), **rate_limit_headers(decision)}
        await problem_response(body, headers=headers)(scope, receive, send)
