"""create_app() and its lifespan: the process-wide resources every request shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import AsyncEngine

from purpose_agent import __version__
from purpose_agent.auth.audit_endpoints import router as audit_router
from purpose_agent.auth.authenticator import Authenticator
from purpose_agent.auth.endpoints import router as auth_router
from purpose_agent.auth.key_use import KeyUseRecorder
from purpose_agent.chat.endpoints import router as chat_router
from purpose_agent.chat.openai_compat import router as openai_router
from purpose_agent.chat.service import ChatDeps
from purpose_agent.composition import (
    API_EMBEDDER_THREADS,
    build_router,
    change_handlers,
    embedder_from,
    login_throttle,
    redis_client,
    token_service,
)
from purpose_agent.db.engine import create_engine, create_sessionmaker
from purpose_agent.db.errors import install_database_problem_handlers
from purpose_agent.db.notifications import ChangeListener
from purpose_agent.health.endpoints import router as health_router
from purpose_agent.health.service import ReadinessService
from purpose_agent.jobs.endpoints import router as jobs_router
from purpose_agent.kit.body_limit import BodyLimitMiddleware
from purpose_agent.kit.client_address import ClientAddressResolver, parse_networks
from purpose_agent.kit.clock import system_clock
from purpose_agent.kit.disconnect import CancelOnDisconnectMiddleware
from purpose_agent.kit.docs import install_offline_docs
from purpose_agent.kit.error_handlers import install_problem_handlers
from purpose_agent.kit.executor import BoundedExecutor
from purpose_agent.kit.rate_limit import RateLimiter, parse_limits
from purpose_agent.kit.rate_limit_middleware import RateLimitMiddleware, RateLimitPolicy, RouteClass
from purpose_agent.kit.request_context import RequestContextMiddleware
from purpose_agent.kit.security_headers import SecurityHeadersMiddleware
from purpose_agent.knowledge.endpoints import router as knowledge_router
from purpose_agent.mcp.endpoints import RequestCaller
from purpose_agent.mcp.endpoints import router as mcp_router
from purpose_agent.mcp.tools import build_server, http_session_manager, transport_security
from purpose_agent.personas.endpoints import router as personas_router
from purpose_agent.personas.profile import ProfileCache
from purpose_agent.settings import AppEnv, Settings

log = structlog.get_logger("purpose_agent.app")

TITLE = "Purpose-Agent"
UPLOAD_PATH = "/api/knowledge/documents"
MULTIPART_ALLOWANCE = 64 * 1024
INSPECTIONS_QUEUED = 16
CANCELLABLE_PATHS = ("/api/chat", "/v1/chat/completions")


def rate_limiter_from(settings: Settings) -> RateLimiter:
    """The limiter on RATE_LIMIT_REDIS_URL, else REDIS_URL, else in memory; it connects on first use."""
    return RateLimiter(
        redis_url=settings.rate_limits.redis_url or settings.redis.url,
        key_prefix=settings.rate_limits.key_prefix,
        on_redis_failure=settings.rate_limits.on_redis_failure,
        redis_timeout=settings.rate_limits.redis_timeout_seconds,
        retry_redis_after=settings.rate_limits.redis_retry_seconds,
    )


def rate_limit_policy(settings: Settings) -> RateLimitPolicy:
    """The per-request limits; with RATE_LIMIT_ENABLED=false none, but client addresses are still resolved."""
    clients = ClientAddressResolver(
        parse_networks(settings.rate_limits.trusted_proxies), settings.rate_limits.proxy_client_header
    )
    if not settings.rate_limits.enabled:
        return RateLimitPolicy(per_ip=(), per_principal=(), clients=clients)
    return RateLimitPolicy(
        per_ip=parse_limits(settings.rate_limits.per_ip),
        per_principal=parse_limits(settings.rate_limits.per_principal),
        per_route={
            RouteClass.chat: parse_limits(settings.rate_limits.chat),
            RouteClass.mcp: parse_limits(settings.rate_limits.mcp),
        },
        clients=clients,
    )


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The API, configured by `settings`; `engine` lets a caller share one it already holds."""
    rate_limiter = rate_limiter_from(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
        app.state.engine = db_engine
        app.state.sessionmaker = create_sessionmaker(db_engine)
        app.state.redis = redis
        router, recorder = build_router(settings, redis, app.state.sessionmaker)
        app.state.embedder = embedder_from(settings, threads=API_EMBEDDER_THREADS)
        app.state.upload_max_bytes = settings.knowledge.upload_max_bytes
        # Type detection and digests of uploads: off the event loop, a few at a time.
        app.state.inspection = BoundedExecutor("inspect", workers=1, max_queued=INSPECTIONS_QUEUED)
        app.state.clock = system_clock
        app.state.tokens = token_service(settings)
        key_uses = KeyUseRecorder(app.state.sessionmaker)
        key_uses.start()
        app.state.authenticator = Authenticator(
            app.state.tokens, key_uses, settings.security.auth_cache_seconds
        )
        app.state.login_throttle = login_throttle(settings, redis)
        app.state.profiles = ProfileCache(settings.chat.persona_cache_seconds)
        changes = ChangeListener(
            settings.database.sqlalchemy_url(),
            *change_handlers(app.state.authenticator, app.state.profiles),
            connect_timeout=settings.database.connect_timeout_seconds,
        )
        changes.start()
        app.state.changes = changes
        app.state.chat = ChatDeps(
            router=router,
            embedder=app.state.embedder,
            session_lifetime=timedelta(hours=settings.chat.session_ttl_hours),
            history_budget=settings.chat.history_token_budget,
            profiles=app.state.profiles,
        )
        app.state.llm_router = router
        app.state.rate_limiter = rate_limiter
        if not rate_limiter.shared:
            log.warning("rate_limits_in_memory", detail="per process only; set REDIS_URL to share them")
        app.state.readiness = ReadinessService(
            db_engine,
            redis,
            settings.observability.readiness_timeout_seconds,
            router,
            rate_limiter=rate_limiter,
        )
        app.state.mcp_server = build_server(app.state, RequestCaller())
        app.state.mcp_sessions = http_session_manager(
            app.state.mcp_server,
            transport_security(settings.mcp.hosts, settings.mcp.origins),
            max_body_bytes=settings.server.max_body_bytes,
        )
        log.info("started", env=settings.server.app_env.value)
        try:
            async with app.state.mcp_sessions.run():
                yield
        finally:
            await changes.aclose()
            app.state.inspection.shutdown()
            await recorder.aclose()
            await key_uses.aclose()
            await router.aclose()
            await app.state.embedder.aclose()
            await rate_limiter.aclose()
            if redis is not None:
                await redis.aclose(close_connection_pool=True)  # a pool we built: ours to close
            if owned_engine:
                await db_engine.dispose()
            log.info("stopped")

    app = FastAPI(
        title=TITLE,
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_problem_handlers(app)
    install_database_problem_handlers(app)
    install_offline_docs(app, title=TITLE)
    app.include_router(health_router)
    app.include_router(knowledge_router)
    app.include_router(jobs_router)
    app.include_router(auth_router)
    app.include_router(audit_router)
    app.include_router(personas_router)
    app.include_router(chat_router)
    app.include_router(openai_router)
    app.include_router(mcp_router)
    # Innermost: a client that leaves stops its chat's model call (streams stop by themselves).
    app.add_middleware(CancelOnDisconnectMiddleware, paths=CANCELLABLE_PATHS)
    # Inside CORS and the security headers, so that a 429 carries them (browsers can read its
    # Retry-After); before routing and authentication, so that 401s and 404s count.
    app.add_middleware(RateLimitMiddleware, limiter=rate_limiter, policy=rate_limit_policy(settings))
    if settings.security.cors_origins:
        # Only whitelisted origins get CORS headers; any other origin gets none and the browser refuses.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.security.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
            max_age=600,
        )
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts=settings.server.app_env is AppEnv.production,
        https_redirect=settings.security.https_redirect,
    )
    # Added last = outermost: the request context wraps every other middleware.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.server.max_body_bytes,
        # An upload may carry the largest document plus its multipart framing and form fields.
        per_path={UPLOAD_PATH: settings.knowledge.upload_max_bytes + MULTIPART_ALLOWANCE},
    )
    app.add_middleware(RequestContextMiddleware)
    return app
