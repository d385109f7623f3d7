"""create_app() and its lifespan: the process-wide resources every request shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from purpose_agent import __version__
from purpose_agent.chat.endpoints import router as chat_router
from purpose_agent.chat.openai_compat import router as openai_router
from purpose_agent.chat.service import ChatDeps
from purpose_agent.composition import build_router, embedder_from
from purpose_agent.db.engine import create_engine, create_sessionmaker
from purpose_agent.health.endpoints import router as health_router
from purpose_agent.health.service import ReadinessService
from purpose_agent.jobs.endpoints import router as jobs_router
from purpose_agent.kit.body_limit import BodyLimitMiddleware
from purpose_agent.kit.clock import system_clock
from purpose_agent.kit.docs import install_offline_docs
from purpose_agent.kit.error_handlers import install_problem_handlers
from purpose_agent.kit.request_context import RequestContextMiddleware
from purpose_agent.knowledge.endpoints import router as knowledge_router
from purpose_agent.personas.endpoints import router as personas_router
from purpose_agent.settings import Settings

log = structlog.get_logger("purpose_agent.app")

TITLE = "Purpose-Agent"
UPLOAD_PATH = "/api/knowledge/documents"
MULTIPART_ALLOWANCE = 64 * 1024


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The API, configured by `settings`; `engine` lets a caller share one it already holds."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_engine = engine is None
        db_engine = engine or create_engine(
            settings.sqlalchemy_url(),
            pool_size=settings.database_pool_size,
            connect_timeout=settings.database_connect_timeout_seconds,
        )
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        if redis is None:
            log.warning("redis_not_configured", detail="shared counters stay in this process only")
        app.state.engine = db_engine
        app.state.sessionmaker = create_sessionmaker(db_engine)
        app.state.redis = redis
        router, recorder = build_router(settings, redis, app.state.sessionmaker)
        app.state.embedder = embedder_from(settings)
        app.state.upload_max_bytes = settings.upload_max_bytes
        app.state.clock = system_clock
        app.state.chat = ChatDeps(
            router=router,
            embedder=app.state.embedder,
            session_lifetime=timedelta(hours=settings.session_ttl_hours),
            history_budget=settings.history_token_budget,
        )
        app.state.llm_router = router
        app.state.readiness = ReadinessService(db_engine, redis, settings.readiness_timeout_seconds, router)
        log.info("started", env=settings.app_env.value)
        try:
            yield
        finally:
            await recorder.drain()
            await router.aclose()
            await app.state.embedder.aclose()
            if redis is not None:
                await redis.aclose()
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
    install_offline_docs(app, title=TITLE)
    app.include_router(health_router)
    app.include_router(knowledge_router)
    app.include_router(jobs_router)
    app.include_router(personas_router)
    app.include_router(chat_router)
    app.include_router(openai_router)
    # Added last = outermost: the request context wraps every other middleware.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # An upload may carry the largest document plus its multipart framing and form fields.
        per_path={UPLOAD_PATH: settings.upload_max_bytes + MULTIPART_ALLOWANCE},
    )
    app.add_middleware(RequestContextMiddleware)
    return app
