"""create_app(): the API's routes, middleware and lifespan, which opens the application context."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute

from purpose_agent import __version__
from purpose_agent.audit.endpoints import audit_router
from purpose_agent.auth.dependencies import current_principal, require_role
from purpose_agent.auth.endpoints import router as auth_router
from purpose_agent.auth.errors import Forbidden, QuotaExceeded, Unauthenticated
from purpose_agent.auth.identity_endpoints import router as identity_router
from purpose_agent.auth.key_endpoints import router as key_router
from purpose_agent.auth.principal import Role
from purpose_agent.chat.endpoints import router as chat_router
from purpose_agent.chat.openai_compat import router as openai_router
from purpose_agent.composition import rate_limit_policy, rate_limiter_from, server_timing_on
from purpose_agent.context import open_context
from purpose_agent.db.errors import install_database_problem_handlers
from purpose_agent.health.endpoints import router as health_router
from purpose_agent.health.scrape import router as scrape_router
from purpose_agent.kit.app_context import install_context, installed_context
from purpose_agent.kit.body_limit import BodyLimitMiddleware
from purpose_agent.kit.console import install_console
from purpose_agent.kit.disconnect import CancelOnDisconnectMiddleware
from purpose_agent.kit.docs import install_offline_docs
from purpose_agent.kit.error_handlers import install_problem_handlers
from purpose_agent.kit.http_metrics import HttpMetrics
from purpose_agent.kit.metrics import publish_build_info
from purpose_agent.kit.openapi import complete_openapi
from purpose_agent.kit.problems import problem_responses
from purpose_agent.kit.rate_limit_middleware import RateLimitMiddleware, is_exempt
from purpose_agent.kit.request_context import RequestContextMiddleware
from purpose_agent.kit.security_headers import SecurityHeadersMiddleware
from purpose_agent.kit.tracing_setup import trace_app
from purpose_agent.knowledge.endpoints import router as knowledge_router
from purpose_agent.knowledge.errors import install_embedder_problem_handler
from purpose_agent.knowledge.job_endpoints import router as jobs_router
from purpose_agent.mcp.endpoints import router as mcp_router
from purpose_agent.personas.endpoints import router as personas_router
from purpose_agent.settings import AppEnv, Settings
from purpose_agent.usage.endpoints import router as usage_router

log = structlog.get_logger("purpose_agent.app")

TITLE = "Purpose-Agent"
UPLOAD_PATH = "/api/knowledge/documents"
MULTIPART_ALLOWANCE = 64 * 1024
CANCELLABLE_PATHS = ("/api/chat", "/v1/chat/completions")


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The API, configured by `settings`; `engine` lets a caller share one it already holds."""
    # Built now, for the middleware; it connects on first use and closes with the context.
    rate_limiter = rate_limiter_from(settings)
    publish_build_info(__version__)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_context(
            settings, engine=engine, rate_limiter=rate_limiter, current=lambda: installed_context(app)
        ) as context:
            install_context(app, context)
            log.info("started", env=settings.server.app_env.value)
            try:
                async with context.mcp_sessions.run():
                    yield
            finally:
                # With several API processes, this one's in-flight gauge must not outlive it.
                context.metrics.forget_process(os.getpid())
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
    install_embedder_problem_handler(app)
    install_offline_docs(app, title=TITLE)
    install_console(app)
    routers = [
        health_router,
        scrape_router,
        knowledge_router,
        jobs_router,
        auth_router,
        key_router,
        identity_router,
        audit_router(Depends(require_role(Role.admin))),
        personas_router,
        usage_router,
        chat_router,
        openai_router,
        mcp_router,
    ]
    # What any route that authenticates may answer besides its own problems (auth's sign-in and user
    # routes declare theirs).
    authenticated = problem_responses(Unauthenticated, Forbidden, QuotaExceeded)
    for router in routers:
        public = router in (health_router, scrape_router, auth_router)
        app.include_router(router, responses=None if public else authenticated)
    complete_openapi(
        app,
        authenticates=lambda dependency: dependency is current_principal,
        rate_limit_exempt=is_exempt,
        liveness_paths=frozenset({"/health"}),
    )
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
                # A console on another origin reads the stage timings (when they are sent at all).
                "Server-Timing",
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
    app.add_middleware(
        RequestContextMiddleware,
        metrics=HttpMetrics(_every_route(app, routers)),
        server_timing=server_timing_on(settings),
    )
    if settings.tracing.tracing_enabled:
        # Outermost of all, so that even the access line is inside the request's span.
        trace_app(app, redact_ip_addresses=settings.observability.log_redact_ip_addresses)
    return app


def _every_route(app: FastAPI, routers: list[APIRouter]) -> list[BaseRoute]:
    """The app's own routes (the docs, the OpenAPI document) and its routers': what a request refused
    before routing is matched against for its metrics' route label."""
    own = [route for route in app.router.routes if hasattr(route, "path_format")]
    return own + [route for router in routers for route in router.routes]
