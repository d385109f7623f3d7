"""Turn the settings into the long-lived objects of a process (with context.py, app.py and cli/, the only
readers of `Settings`): the LLM providers, their breakers and the router, the embedder, the tokens,
the rate limits, the worker's jobs. `context.open_context` assembles them."""

from __future__ import annotations

import functools
import secrets
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

import procrastinate
import structlog
from jwt import InvalidKeyError
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent import __version__
from purpose_agent.audit.tasks import audit_retention_blueprint
from purpose_agent.auth.authenticator import Authenticator
from purpose_agent.auth.daily_usage import DailyUsageRecorder
from purpose_agent.auth.metering import KeyMeter
from purpose_agent.auth.quotas import QuotaLedger
from purpose_agent.auth.throttle import LoginThrottle
from purpose_agent.auth.tokens import TokenPolicy, TokenService
from purpose_agent.chat.tasks import session_cleanup_blueprint
from purpose_agent.jobs.maintenance import maintenance_blueprint
from purpose_agent.jobs.queue import job_app
from purpose_agent.kit.backoff import BackoffPolicy
from purpose_agent.kit.client_address import ClientAddressResolver, parse_networks
from purpose_agent.kit.clock import system_clock
from purpose_agent.kit.executor import BoundedExecutor
from purpose_agent.kit.isolation import ProcessRunner
from purpose_agent.kit.log_shipping import LogSink
from purpose_agent.kit.logging import configure_logging
from purpose_agent.kit.metrics import API_FAMILIES, WORKER_FAMILIES
from purpose_agent.kit.metrics_access import MetricsAccess
from purpose_agent.kit.metrics_exposition import MetricsExposition
from purpose_agent.kit.metrics_server import MetricsServer
from purpose_agent.kit.otlp_log_sink import OtlpLogSink
from purpose_agent.kit.rate_limit import RateLimiter, parse_limits
from purpose_agent.kit.rate_limit_middleware import RateLimitPolicy, RouteClass
from purpose_agent.kit.redaction import Redactor
from purpose_agent.kit.seq_sink import SeqSink
from purpose_agent.kit.tracing_setup import configure_tracing
from purpose_agent.knowledge.chunking import ChunkingPolicy
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.embeddings.factory import build_embedder
from purpose_agent.knowledge.parsing import PARSER_MODULES
from purpose_agent.knowledge.tasks import IngestionJobPolicy, ingestion_blueprint
from purpose_agent.llm.breaker import (
    BreakerPolicy,
    BreakerStore,
    FallbackBreakers,
    MemoryBreakers,
    RedisBreakers,
)
from purpose_agent.llm.pricing import Price, PriceTable
from purpose_agent.llm.providers.base import Provider, ProviderConfig
from purpose_agent.llm.recorder import DatabaseRecorder
from purpose_agent.llm.registry import build_provider
from purpose_agent.llm.router import LLMRouter, RouterPolicy
from purpose_agent.personas.profile import ProfileCache
from purpose_agent.secrets.refresher import SecretRefresher
from purpose_agent.settings import AppEnv, JwtAlgorithm, LogFormat, Settings, jwt_secret_problem

log = structlog.get_logger("purpose_agent.llm")


def provider_configs(settings: Settings) -> list[ProviderConfig]:
    """The chain's providers as the LLM layer takes them."""
    configs = []
    for name, provider in settings.provider_settings().items():
        options = {"model_path": provider.model_path} if provider.model_path else {}
        if name == "local":
            options["max_queued"] = str(provider.max_queued)
            options["max_tokens"] = str(provider.max_tokens)
        configs.append(
            ProviderConfig(
                name=name,
                model=provider.model,
                api_key=provider.api_key.get_secret_value() if provider.api_key else None,
                base_url=provider.base_url,
                connect_timeout=provider.connect_timeout_seconds,
                read_timeout=provider.read_timeout_seconds,
                max_retries=provider.max_retries,
                max_connections=provider.max_connections,
                options=options,
            )
        )
    return configs


def breaker_policy(settings: Settings) -> BreakerPolicy:
    return BreakerPolicy(
        failure_threshold=settings.llm.breaker_failure_threshold,
        failure_rate=settings.llm.breaker_failure_rate,
        minimum_calls=settings.llm.breaker_minimum_calls,
        window_seconds=settings.llm.breaker_window_seconds,
        cooldown_seconds=settings.llm.breaker_cooldown_seconds,
    )


def build_router(
    settings: Settings,
    redis: Redis | None,
    sessionmaker: async_sessionmaker[AsyncSession],
    providers: list[Provider] | None = None,
) -> tuple[LLMRouter, DatabaseRecorder]:
    """The router of this process, with breakers shared through Redis when there is one."""
    configs = provider_configs(settings)
    built = providers if providers is not None else [build_provider(config) for config in configs]
    policy = breaker_policy(settings)
    breakers: BreakerStore = (
        FallbackBreakers(
            RedisBreakers(redis, policy),
            MemoryBreakers(policy),
            timeout=settings.redis.timeout_seconds,
            retry_after=settings.rate_limits.redis_retry_seconds,
        )
        if redis is not None
        else MemoryBreakers(policy)
    )
    recorder = DatabaseRecorder(sessionmaker)
    router = LLMRouter(
        built,
        breakers,
        RouterPolicy(
            deadline_seconds=settings.llm.deadline_seconds,
            backoff=BackoffPolicy(settings.llm.retry_base_seconds, settings.llm.retry_cap_seconds),
            heartbeat_seconds=settings.llm.heartbeat_seconds,
        ),
        prices=PriceTable(
            {model: Price(*price) for model, price in settings.llm.prices_with_defaults().items()}
        ),
        recorder=recorder,
        retries={config.name: config.max_retries for config in configs},
    )
    for name in router.unconfigured():
        log.warning("llm_provider_skipped", provider=name, reason="no credentials or model configured")
    log.info(
        "llm_chain",
        chain=router.default_chain,
        extractive=settings.llm.extractive_fallback,
        local_answers=settings.llm.local_answers,
    )
    return router, recorder


# Threads per local embedding: the API embeds one short query per request, many requests at once, so
# one thread each wastes none on waking a second (2 threads cost 60% more CPU per query, measured);
# a worker embeds batches of long chunks one after another, where a second core halves the time.
API_EMBEDDER_THREADS = 1
WORKER_EMBEDDER_THREADS = 2


def embedder_from(settings: Settings, *, threads: int = WORKER_EMBEDDER_THREADS) -> Embedder:
    """The configured embedder; the local model loads on its first use, not here."""
    return build_embedder(
        settings.knowledge.embedder,
        model=settings.knowledge.embedder_model,
        base_url=settings.knowledge.embedder_base_url,
        api_key=settings.knowledge.embedder_api_key.get_secret_value()
        if settings.knowledge.embedder_api_key
        else None,
        dimension=settings.knowledge.embedder_dimension,
        max_tokens=settings.knowledge.embedder_max_tokens,
        threads=threads,
        timeout=settings.knowledge.embedder_timeout_seconds,
    )


def chunking_policy(settings: Settings, embedder: Embedder) -> ChunkingPolicy:
    """Chunks sized for this embedder's token limit."""
    return ChunkingPolicy(
        max_tokens=embedder.max_tokens, overlap_tokens=settings.knowledge.chunk_overlap_tokens
    )


def worker_app(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    *,
    maintenance: bool = True,
) -> procrastinate.App:
    """The job queue app of a worker: ingestion, and (for a long-running worker) the periodic checks."""
    blueprints = [
        ingestion_blueprint(
            sessionmaker,
            embedder,
            chunking_policy(settings, embedder),
            IngestionJobPolicy(
                attempts=settings.jobs.ingest_attempts,
                timeout_seconds=settings.jobs.ingest_timeout_seconds,
                retry_backoff_seconds=settings.jobs.ingest_retry_backoff_seconds,
            ),
            # Chunking: as many at once as jobs.
            BoundedExecutor(
                "chunk", workers=settings.jobs.worker_concurrency, max_queued=settings.jobs.worker_concurrency
            ),
            # Parsing: in a process of its own, killed with its job's timeout (a thread cannot be).
            parse_processes(settings.jobs.worker_concurrency),
        )
    ]
    if maintenance:
        blueprints += [
            maintenance_blueprint(
                stalled_after_seconds=settings.jobs.worker_stalled_after_seconds,
                check_every_seconds=settings.jobs.worker_stalled_check_seconds,
            ),
            session_cleanup_blueprint(sessionmaker, system_clock, settings.chat.session_cleanup_batch),
            audit_retention_blueprint(sessionmaker, system_clock, settings.security.audit_retention_days),
        ]
    return job_app(
        settings.database.sqlalchemy_url(), blueprints, pool_timeout=settings.database.pool_timeout_seconds
    )


def parse_processes(concurrency: int) -> ProcessRunner:
    """Document parsing in child processes, as many at once as jobs, the parsers imported once."""
    return ProcessRunner("parse", processes=concurrency, max_queued=concurrency, preload=PARSER_MODULES)


def secret_refresher(settings: Settings) -> SecretRefresher | None:
    """The background refresh of the secrets that came from the provider; None when none did."""
    cache = settings.secret_cache
    if cache is None or not settings.provided_secrets:
        return None
    return SecretRefresher(cache, settings.provided_secrets, settings.secrets.cache_ttl_seconds)


# A request whose token names a key this process does not know waits this long at most for the
# secrets to be fetched again (another replica may have fetched a rotated key first).
UNKNOWN_KEY_WAIT_SECONDS = 2.0


def token_service(settings: Settings, secrets: SecretRefresher | None = None) -> TokenService:
    """Tokens under the configured algorithm; in development, HS256 with a generated secret if none.

    When the signing key came from the secrets provider, `secrets`' refreshes rotate it."""
    variable = signing_key_variable(settings)
    follows = secrets if secrets is not None and variable in secrets.names else None
    service = TokenService(
        token_policy(settings, rotation_margin=follows.every if follows else 0.0),
        refresh_keys=(lambda: follows.refresh_on_demand(UNKNOWN_KEY_WAIT_SECONDS)) if follows else None,
    )
    if follows is not None:
        follows.subscribe(functools.partial(rotate_signing_key, settings, service))
    return service


def signing_key_variable(settings: Settings) -> str:
    """The secret new tokens are signed with: JWT_SECRET (HS256) or JWT_PRIVATE_KEY."""
    return "JWT_SECRET" if settings.security.jwt_algorithm is JwtAlgorithm.hs256 else "JWT_PRIVATE_KEY"


def rotate_signing_key(settings: Settings, tokens: TokenService, values: Mapping[str, str]) -> None:
    """Sign with the provider's new key, unless it is one the start would have refused (then the
    current key goes on signing, and the refusal is logged)."""
    variable = signing_key_variable(settings)
    key = values.get(variable)
    if key is None:
        return
    problem = jwt_secret_problem(key) if variable == "JWT_SECRET" else None
    if problem is not None and settings.server.app_env is AppEnv.production:
        log.error("token_signing_key_refused", variable=variable, reason=problem)
        return
    try:
        tokens.rotate(key)
    except (ValueError, InvalidKeyError):
        reason = f"not a {settings.security.jwt_algorithm.value} key"
        log.error("token_signing_key_refused", variable=variable, reason=reason)


def token_policy(settings: Settings, *, rotation_margin: float = 0.0) -> TokenPolicy:
    """The configured algorithm, names, lifetimes and the keys at start."""
    algorithm = settings.security.jwt_algorithm.value
    if settings.security.jwt_algorithm is JwtAlgorithm.hs256:
        secret = (
            settings.security.jwt_secret.get_secret_value()
            if settings.security.jwt_secret
            else _development_secret(settings)
        )
        signing: str | None = secret
        verifying: str | None = secret
    else:
        signing = (
            settings.security.jwt_private_key.get_secret_value()
            if settings.security.jwt_private_key
            else None
        )
        verifying = settings.security.jwt_public_key
    return TokenPolicy(
        algorithm=algorithm,
        issuer=settings.security.jwt_issuer,
        audience=settings.security.jwt_audience,
        ttl_seconds=settings.security.jwt_ttl_seconds,
        leeway_seconds=settings.security.jwt_leeway_seconds,
        signing_key=signing,
        verifying_key=verifying,
        jwks_url=settings.security.jwt_jwks_url,
        rotation_margin_seconds=rotation_margin,
    )


def _development_secret(settings: Settings) -> str:
    """A random secret made on first use and kept in DATA_DIR/secrets (never in git)."""
    path = settings.database.data_dir / "secrets" / "jwt-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
        log.warning("jwt_secret_generated", path=str(path), detail="set JWT_SECRET outside development")
    return path.read_text().strip()


def login_throttle(settings: Settings, redis: Redis | None) -> LoginThrottle:
    """Sign-in attempts counted on the app's Redis, under the rate limits' key prefix, with the same
    bounded wait and retry as the breakers when Redis fails."""
    return LoginThrottle(
        redis,
        settings.security.login_failures_per_username,
        settings.security.login_failures_per_address,
        prefix=f"{settings.rate_limits.key_prefix}:login",
        timeout=settings.redis.timeout_seconds,
        retry_after=settings.rate_limits.redis_retry_seconds,
    )


def key_meter(
    settings: Settings, redis: Redis | None, sessionmaker: async_sessionmaker[AsyncSession]
) -> KeyMeter:
    """The keys' quotas on the app's Redis (in memory without one, or while it fails), and their usage
    per day in PostgreSQL."""
    ledger = QuotaLedger(
        redis, timeout=settings.redis.timeout_seconds, retry_after=settings.rate_limits.redis_retry_seconds
    )
    return KeyMeter(ledger, DailyUsageRecorder(sessionmaker))


def change_handlers(
    authenticator: Authenticator, profiles: ProfileCache
) -> tuple[Callable[[str], None], Callable[[], None]]:
    """What a change announced by another process drops: a key, a user or a persona; and all on a gap."""

    def on_change(subject: str) -> None:
        kind, _, identifier = subject.partition(":")
        if kind == "persona":
            profiles.forget(identifier)
            return
        try:
            entity = uuid.UUID(identifier)
        except ValueError:
            return
        if kind == "key":
            authenticator.forget_key(entity)
        elif kind == "user":
            authenticator.forget_user(entity)

    def on_gap() -> None:
        authenticator.clear()
        profiles.clear()

    return on_change, on_gap


def metrics_access(settings: Settings) -> MetricsAccess:
    """Who may read this process's metrics: loopback clients, and others with METRICS_TOKEN."""
    token = settings.metrics.metrics_token
    return MetricsAccess(token.get_secret_value() if token else None)


# prometheus-client reads it in each process, before its first metric: `serve` sets it for the API's.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir(settings: Settings) -> Path:
    """Where several API processes keep their metrics (prometheus-client's PROMETHEUS_MULTIPROC_DIR)."""
    return settings.metrics.prometheus_multiproc_dir or settings.database.data_dir / "metrics"


def api_metrics(settings: Settings) -> MetricsExposition:
    """The API's metrics: this process's, or every API process's with API_WORKERS > 1 (`serve` prepares
    the directory before it starts them)."""
    shared = multiprocess_dir(settings) if settings.server.api_workers > 1 else None
    return MetricsExposition(API_FAMILIES, shared)


def worker_metrics_server(settings: Settings) -> MetricsServer | None:
    """The worker's metrics port, not yet listening; None with WORKER_METRICS_PORT=0."""
    if settings.metrics.worker_metrics_port == 0:
        return None
    return MetricsServer(
        MetricsExposition(WORKER_FAMILIES),
        metrics_access(settings),
        host=settings.metrics.worker_metrics_host,
        port=settings.metrics.worker_metrics_port,
    )


def redis_client(settings: Settings) -> Redis | None:
    """The app's Redis (None without REDIS_URL): a bounded pool that waits for a free connection, and
    timeouts on every call, so a Redis that is full, down or hanging costs a bounded wait, never a hang."""
    if not settings.redis.url:
        return None
    pool = BlockingConnectionPool.from_url(
        settings.redis.url,
        max_connections=settings.redis.max_connections,
        timeout=settings.redis.timeout_seconds,
        socket_timeout=settings.redis.timeout_seconds,
        socket_connect_timeout=settings.redis.timeout_seconds,
    )
    return Redis(connection_pool=pool)


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


def server_timing_on(settings: Settings) -> bool:
    """Whether responses carry Server-Timing: SERVER_TIMING when set, else only in development."""
    chosen = settings.tracing.server_timing
    return settings.server.app_env is AppEnv.development if chosen is None else chosen


def configure_telemetry(settings: Settings, log_stream: TextIO | None = None) -> None:
    """Logs (stdout and LOG_SINKS) and, with TRACING_ENABLED, traces: once per process, at its start."""
    tracing = settings.tracing
    if tracing.tracing_enabled:
        configure_tracing(
            service=telemetry_service_name(settings),
            version=__version__,
            endpoint=tracing.traces_endpoint(),
            sampler=tracing.otel_traces_sampler.value,
            sampler_ratio=tracing.sampler_ratio,
        )
    observability = settings.observability
    configure_logging(
        level=observability.log_level.value,
        service=settings.server.service_name,
        version=__version__,
        redactor=Redactor(redact_ip_addresses=observability.log_redact_ip_addresses),
        stream=log_stream,
        console=console_logs(settings, log_stream or sys.stdout),
        sinks=log_sinks_from(settings),
        sink_queue_lines=settings.log_output.log_sink_queue_lines,
        trace_ids=tracing.tracing_enabled,
    )


def telemetry_service_name(settings: Settings) -> str:
    """The service name of traces and OTLP logs: OTEL_SERVICE_NAME, else SERVICE_NAME."""
    return settings.tracing.otel_service_name or settings.server.service_name


def console_logs(settings: Settings, stream: TextIO) -> bool:
    """Readable lines instead of JSON: LOG_FORMAT=console, or auto in development on a terminal."""
    chosen = settings.log_output.log_format
    if chosen is LogFormat.auto:
        return settings.server.app_env is AppEnv.development and stream.isatty()
    return chosen is LogFormat.console


def log_sinks_from(settings: Settings) -> list[LogSink]:
    """The sinks named in LOG_SINKS, besides stdout."""
    output = settings.log_output
    sinks: list[LogSink] = []
    for name in output.sink_names:
        if name == "seq":
            assert output.seq_url is not None  # required with seq, by the settings' validation
            api_key = output.seq_api_key.get_secret_value() if output.seq_api_key else None
            sinks.append(SeqSink(output.seq_url, api_key))
        elif name == "otlp":
            sinks.append(
                OtlpLogSink(
                    settings.tracing.logs_endpoint(),
                    service=telemetry_service_name(settings),
                    version=__version__,
                )
            )
    return sinks
