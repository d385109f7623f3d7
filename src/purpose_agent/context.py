"""The application context: every long-lived object of a process, built in one place and typed.

`open_context` builds it from the settings and closes it in reverse; the API's lifespan installs it
for the routes (`kit.app_context`), and the command line, the worker and MCP over stdio use the same
object. Each package reads only the parts it declares in a protocol of its own (`AuthContext`,
`ChatContext`, `ToolContext`, ...); `_satisfies` below makes mypy prove that this context has them all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import structlog
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent.auth.authenticator import Authenticator
from purpose_agent.auth.dependencies import AuthContext
from purpose_agent.auth.key_use import KeyUseRecorder
from purpose_agent.auth.metering import KeyMeter
from purpose_agent.auth.throttle import LoginThrottle
from purpose_agent.auth.tokens import TokenService
from purpose_agent.chat.endpoints import ChatContext
from purpose_agent.chat.service import ChatDeps
from purpose_agent.chat.sessions import PersonaConversations
from purpose_agent.composition import (
    API_EMBEDDER_THREADS,
    api_metrics,
    build_router,
    change_handlers,
    embedder_from,
    key_meter,
    login_throttle,
    metrics_access,
    rate_limiter_from,
    redis_client,
    secret_refresher,
    token_service,
)
from purpose_agent.db.engine import DatabaseContext, create_engine, create_sessionmaker
from purpose_agent.db.notifications import ChangeListener
from purpose_agent.health.endpoints import HealthContext
from purpose_agent.health.scrape import ScrapeContext
from purpose_agent.health.service import ReadinessService
from purpose_agent.kit.clock import Clock, ClockContext, system_clock
from purpose_agent.kit.executor import BoundedExecutor
from purpose_agent.kit.metrics_access import MetricsAccess
from purpose_agent.kit.metrics_exposition import MetricsExposition
from purpose_agent.kit.rate_limit import RateLimiter
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.endpoints import KnowledgeContext
from purpose_agent.llm.recorder import DatabaseRecorder
from purpose_agent.llm.router import LLMRouter
from purpose_agent.mcp.endpoints import McpContext, RequestCaller
from purpose_agent.mcp.stdio import StdioContext
from purpose_agent.mcp.tools import build_server, http_session_manager, transport_security
from purpose_agent.personas.endpoints import PersonasContext
from purpose_agent.personas.profile import ProfileCache
from purpose_agent.personas.queries import AgentDirectory
from purpose_agent.settings import Settings

log = structlog.get_logger("purpose_agent.app")

# Type detection and digests of uploads: off the event loop, a few at a time.
INSPECTIONS_QUEUED = 16


@dataclass(frozen=True, slots=True)
class AppContext:
    """What the routes, the command line, the worker and MCP share in one process."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis | None
    clock: Clock
    tokens: TokenService
    authenticator: Authenticator
    login_throttle: LoginThrottle
    meter: KeyMeter
    agents: AgentDirectory
    rate_limiter: RateLimiter
    profiles: ProfileCache
    embedder: Embedder
    router: LLMRouter
    recorder: DatabaseRecorder
    chat: ChatDeps
    conversations: PersonaConversations
    inspection: BoundedExecutor
    upload_max_bytes: int
    readiness: ReadinessService
    metrics: MetricsExposition
    metrics_access: MetricsAccess
    mcp_server: MCPServer
    mcp_sessions: StreamableHTTPSessionManager


def _satisfies(context: AppContext) -> list[object]:
    # Never called: mypy checks each assignment, so a part a package needs cannot go missing here.
    auth: AuthContext = context
    chat: ChatContext = context
    clock: ClockContext = context
    database: DatabaseContext = context
    health: HealthContext = context
    knowledge: KnowledgeContext = context
    mcp: McpContext = context
    personas: PersonasContext = context
    scrape: ScrapeContext = context
    stdio: StdioContext = context
    return [auth, chat, clock, database, health, knowledge, mcp, personas, scrape, stdio]


@asynccontextmanager
async def open_context(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    embedder_threads: int = API_EMBEDDER_THREADS,
    rate_limiter: RateLimiter | None = None,
    current: Callable[[], AppContext] | None = None,
    authenticates: bool = True,
) -> AsyncIterator[AppContext]:
    """Build the context (`engine`: one the caller already holds and keeps), yield it, then close it
    (with the rate limiter, whether built here or handed in).

    `authenticates`: the process checks callers (the API, MCP over stdio), so it listens for revoked
    keys and changed personas; a worker does not, and keeps no connection open for it.

    `current` names where the context is read at a tool call (the app's installed one, which a test may
    swap); by default the context built here."""
    owned_engine = engine is None
    db_engine = engine or create_engine(
        settings.database.sqlalchemy_url(),
        pool_size=settings.database.pool_size,
        connect_timeout=settings.database.connect_timeout_seconds,
        pool_timeout=settings.database.pool_timeout_seconds,
    )
    redis = redis_client(settings)
    if redis is None:
        log.warning("redis_not_configured", detail="shared counters stay in this process only")
    sessionmaker = create_sessionmaker(db_engine)
    router, recorder = build_router(settings, redis, sessionmaker)
    embedder = embedder_from(settings, threads=embedder_threads)
    inspection = BoundedExecutor("inspect", workers=1, max_queued=INSPECTIONS_QUEUED)
    # The secrets that came from the provider, refreshed every TTL where callers are checked: the
    # token signing key follows it.
    secrets = secret_refresher(settings) if authenticates else None
    tokens = token_service(settings, secrets)
    key_uses = KeyUseRecorder(sessionmaker)
    key_uses.start()
    authenticator = Authenticator(tokens, key_uses, settings.security.auth_cache_seconds)
    meter = key_meter(settings, redis, sessionmaker)
    profiles = ProfileCache(settings.chat.persona_cache_seconds)
    changes = ChangeListener(
        settings.database.sqlalchemy_url(),
        *change_handlers(authenticator, profiles),
        connect_timeout=settings.database.connect_timeout_seconds,
    )
    if authenticates:
        changes.start()
    if secrets is not None:
        secrets.start()
    rate_limiter = rate_limiter or rate_limiter_from(settings)
    if not rate_limiter.shared:
        log.warning("rate_limits_in_memory", detail="per process only; set REDIS_URL to share them")
    built: AppContext | None = None
    mcp_server = build_server(current or (lambda: _built(built)), RequestCaller())
    built = AppContext(
        engine=db_engine,
        sessionmaker=sessionmaker,
        redis=redis,
        clock=system_clock,
        tokens=tokens,
        authenticator=authenticator,
        login_throttle=login_throttle(settings, redis),
        meter=meter,
        agents=AgentDirectory(),
        rate_limiter=rate_limiter,
        profiles=profiles,
        embedder=embedder,
        router=router,
        recorder=recorder,
        chat=ChatDeps(
            router=router,
            embedder=embedder,
            session_lifetime=timedelta(hours=settings.chat.session_ttl_hours),
            history_budget=settings.chat.history_token_budget,
            profiles=profiles,
            extractive_fallback=settings.llm.extractive_fallback,
            local_answers=settings.llm.local_answers,
            meter=meter,
        ),
        conversations=PersonaConversations(),
        inspection=inspection,
        upload_max_bytes=settings.knowledge.upload_max_bytes,
        readiness=ReadinessService(
            db_engine,
            redis,
            settings.observability.readiness_timeout_seconds,
            router,
            rate_limiter=rate_limiter,
        ),
        metrics=api_metrics(settings),
        metrics_access=metrics_access(settings),
        mcp_server=mcp_server,
        mcp_sessions=http_session_manager(
            mcp_server,
            transport_security(settings.mcp.hosts, settings.mcp.origins),
            max_body_bytes=settings.server.max_body_bytes,
        ),
    )
    try:
        yield built
    finally:
        if secrets is not None:
            await secrets.aclose()
        await changes.aclose()
        inspection.shutdown()
        await recorder.aclose()
        await key_uses.aclose()
        await meter.aclose()
        await router.aclose()
        await embedder.aclose()
        await rate_limiter.aclose()
        if redis is not None:
            await redis.aclose(close_connection_pool=True)  # a pool we built: ours to close
        if owned_engine:
            await db_engine.dispose()


def _built(context: AppContext | None) -> AppContext:
    if context is None:
        raise RuntimeError("the application context is still being built")
    return context
