"""The only module that reads the environment: every setting, typed and validated once at start.

Values come from the process environment first, then from a `.env` file in the working directory.
The secret ones (`SECRET_NAMES`) may come from the secrets provider chosen with SECRETS_PROVIDER,
between the two: below the environment, above `.env`. `.env.example` documents each one. Nothing
below `app.py` and `cli.py` imports this module's `Settings`: they receive the values they need as
arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from purpose_agent.kinds import EMBEDDER_KINDS, KNOWN_PROVIDERS
from purpose_agent.kit.client_address import ProxyHeader, parse_networks
from purpose_agent.kit.rate_limit import FailureMode, parse_limits
from purpose_agent.secrets import (
    SECRET_CACHE_KEY,
    SecretCache,
    SecretsConfig,
    SecretsError,
    with_secrets_source,
)


class AppEnv(StrEnum):
    development = "development"
    production = "production"


class JwtAlgorithm(StrEnum):
    hs256 = "HS256"
    rs256 = "RS256"
    es256 = "ES256"


class LogLevel(StrEnum):
    debug = "DEBUG"
    info = "INFO"
    warning = "WARNING"
    error = "ERROR"


Port = Annotated[int, Field(ge=1, le=65535)]


DEFAULT_MODELS = {
    "gemini": "gemini-2.5-flash",
    "openai": "gpt-4o",
    "anthropic": "claude-sonnet-4-5",
    "ollama": "",
    "local": "smollm2-135m-instruct",
}
# US dollars per million prompt and completion tokens, for the usage records' cost estimate.
DEFAULT_PRICES = {
    "gemini/gemini-2.5-flash": (0.30, 2.50),
    "openai/gpt-4o": (2.50, 10.00),
    "anthropic/claude-sonnet-4-5": (3.00, 15.00),
}

# The settings that are secrets: with SECRETS_PROVIDER set, read from it unless the environment sets
# them (an operator's override), and in preference to .env and the defaults.
SECRET_FIELDS = ("jwt_secret", "jwt_private_key", "database_url", "redis_url", "embedder_api_key")
PROVIDER_API_KEYS = tuple(f"{name.upper()}_API_KEY" for name in KNOWN_PROVIDERS if name != "local")
SECRET_NAMES = (*(field.upper() for field in SECRET_FIELDS), *PROVIDER_API_KEYS)


class ProviderSettings(BaseSettings):
    """One LLM provider, read from variables with its prefix: OPENAI_API_KEY, OPENAI_MODEL, ..."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str = ""
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 5.0
    read_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    # Connections open to the provider at once, per API process (streams hold one each).
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 1000
    # The built-in local provider only: a GGUF file instead of the bundled SmolLM2.
    model_path: str | None = None
    # The built-in local provider only: generations that may wait for the one running (one at a
    # time); a request past them is refused at once (the router moves on, or a 503 problem).
    max_queued: Annotated[int, Field(ge=0, le=1000)] = 4

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # OPENAI_API_KEY and its like, through the cache `Settings` passes in (SECRET_CACHE_KEY).
        return with_secrets_source(
            settings_cls,
            init_settings,
            env_settings,
            dotenv_settings,
            file_secret_settings,
            fields=["api_key"],
            secret_names=SECRET_NAMES,
        )


class Settings(SecretsConfig, BaseSettings):
    """Every setting; the SECRETS_*, VAULT_*, AWS_* and AZURE_* ones are `SecretsConfig`'s, read first."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    host: str = "127.0.0.1"
    port: Port = 8000
    # API processes serving the port (uvicorn workers): about one per core; each holds its own pool,
    # embedder and caches.
    api_workers: Annotated[int, Field(ge=1, le=64)] = 1
    app_env: AppEnv = AppEnv.development
    service_name: str = "purpose-agent"
    log_level: LogLevel = LogLevel.info
    log_redact_ip_addresses: bool = True

    # Empty means: use the embedded PostgreSQL started from `data_dir`.
    database_url: str = ""
    database_pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    # How long a request waits for a pooled connection before a 503 problem (with Retry-After).
    database_pool_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    database_connect_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    embedded_db_port: Port = 5433
    embedded_db_name: str = "purpose_agent"
    data_dir: Path = Path(".data")

    # Empty means: no Redis; counters stay in memory of one process.
    redis_url: str = ""
    # Connections per process, and how long one call (or the wait for a free connection) may take
    # before the breakers and limits fall back to this process's memory.
    redis_max_connections: Annotated[int, Field(ge=1, le=10_000)] = 200
    redis_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 1.0

    # Rate limits in the `limits` notation ("20/minute", "300 per hour", several joined by ";").
    rate_limit_enabled: bool = True
    rate_limit_per_ip: str = "1000/minute"
    rate_limit_per_principal: str = "300/minute"
    rate_limit_chat: str = "20/minute"
    rate_limit_mcp: str = "30/minute"
    # Empty means: REDIS_URL; both empty: limits in memory, per process.
    rate_limit_redis_url: str = ""
    rate_limit_key_prefix: Annotated[str, Field(min_length=1, max_length=200)] = "purpose-agent:rate-limit"
    rate_limit_on_redis_failure: FailureMode = FailureMode.memory
    rate_limit_redis_timeout_seconds: Annotated[float, Field(gt=0, le=10)] = 0.5
    rate_limit_redis_retry_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    # Peers whose forwarding header is believed (comma-separated networks), and which header they write.
    trusted_proxies: str = ""
    proxy_client_header: ProxyHeader = ProxyHeader.x_forwarded_for

    _providers: dict[str, ProviderSettings] | None = PrivateAttr(default=None)
    # The cache the secret settings came through (None with SECRETS_PROVIDER=env).
    _secret_cache: SecretCache | None = PrivateAttr(default=None)

    llm_chain: str = ",".join(KNOWN_PROVIDERS)
    llm_deadline_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    llm_heartbeat_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    llm_retry_base_seconds: Annotated[float, Field(ge=0, le=10)] = 0.25
    llm_retry_cap_seconds: Annotated[float, Field(ge=0, le=60)] = 4.0
    llm_breaker_failure_threshold: Annotated[int, Field(ge=1, le=100)] = 5
    llm_breaker_failure_rate: Annotated[float, Field(gt=0, le=1)] = 0.5
    llm_breaker_minimum_calls: Annotated[int, Field(ge=1, le=10_000)] = 10
    llm_breaker_window_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    llm_breaker_cooldown_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    llm_extractive_fallback: bool = True
    # Provider settings given directly (JSON by name) instead of through the OPENAI_... variables.
    llm_providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    # JSON {"provider/model": [prompt, completion]}, US dollars per million tokens, over the defaults.
    llm_prices: dict[str, tuple[float, float]] = Field(default_factory=dict)

    # local (all-MiniLM-L6-v2 on ONNX Runtime, offline) | openai | ollama | gemini
    embedder: str = "local"
    embedder_model: str | None = None
    embedder_base_url: str | None = None
    embedder_api_key: SecretStr | None = None
    embedder_dimension: Annotated[int, Field(ge=1, le=16_000)] | None = None
    embedder_max_tokens: Annotated[int, Field(ge=16, le=8192)] = 256
    chunk_overlap_tokens: Annotated[int, Field(ge=0, le=512)] = 32

    # Uploads and folder ingestion: the largest document accepted, and how its job runs.
    upload_max_bytes: Annotated[int, Field(ge=1024, le=1_073_741_824)] = 20 * 1024 * 1024
    ingest_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    ingest_timeout_seconds: Annotated[float, Field(gt=0, le=86_400)] = 600.0
    ingest_retry_backoff_seconds: Annotated[int, Field(ge=1, le=600)] = 5
    # The folder `purpose-agent up` ingests at start (one sub-folder per category); skipped when absent.
    knowledge_seed_dir: Path = Path("knowledge")
    # Personas upserted at every start (JSON or YAML); skipped when absent.
    personas_file: Path = Path("config/personas.json")

    # How long a live key's or user's lookup, and a persona, are reused by one process. A change made
    # anywhere is announced through PostgreSQL and dropped at commit; this bounds staleness only while
    # a process cannot listen.
    auth_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
    persona_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0

    # Conversations: a session ends this long after its last message.
    session_ttl_hours: Annotated[float, Field(gt=0, le=24 * 365)] = 24.0
    # Earlier turns sent with a question, newest first, up to this many of the embedder's tokens.
    history_token_budget: Annotated[int, Field(ge=0, le=100_000)] = 1500
    # The worker deletes expired sessions in batches of this many.
    session_cleanup_batch: Annotated[int, Field(ge=1, le=100_000)] = 500
    # The worker deletes audit entries older than this, every hour.
    audit_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90

    # The background worker: jobs run at once, heartbeat, when a silent worker's jobs are run again.
    worker_concurrency: Annotated[int, Field(ge=1, le=32)] = 1
    worker_heartbeat_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    worker_stalled_after_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    worker_stalled_check_seconds: Annotated[int, Field(ge=1, le=59)] = 15

    # Tokens: HS256 with JWT_SECRET (32 bytes or more), or RS256/ES256 with a PEM key pair (the private
    # key only where tokens are issued) or a JWKS URL (verifying an identity provider's tokens).
    jwt_algorithm: JwtAlgorithm = JwtAlgorithm.hs256
    jwt_secret: SecretStr | None = None
    jwt_private_key: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "purpose-agent"
    jwt_audience: str = "purpose-agent"
    jwt_ttl_seconds: Annotated[int, Field(ge=60, le=86_400)] = 900
    jwt_leeway_seconds: Annotated[int, Field(ge=0, le=300)] = 30
    # Failed sign-ins allowed per username and per client address before 429 (`limits` syntax).
    login_failures_per_username: str = "5/15minutes"
    login_failures_per_address: str = "20/15minutes"
    # Browser origins allowed to call the API (comma-separated, e.g. https://app.example.com);
    # empty: no CORS headers for anyone.
    cors_allowed_origins: str = ""
    # Redirect plain-HTTP requests (but those to localhost) to HTTPS with 308.
    https_redirect: bool = False

    # MCP at /api/mcp, against DNS rebinding: the Host headers it answers (`name:*`: any port) and the
    # browser origins it accepts (comma-separated); a request without Origin is not a browser's.
    mcp_allowed_hosts: str = "127.0.0.1:*,localhost:*,[::1]:*"
    mcp_allowed_origins: str = "http://127.0.0.1:*,http://localhost:*,http://[::1]:*"
    # The credential `purpose-agent mcp` (stdio, for desktop clients) acts with: an API key or a JWT.
    mcp_api_key: SecretStr | None = None

    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    readiness_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 2.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init values, the environment, the secrets provider, `.env`, then the defaults."""
        return with_secrets_source(
            settings_cls,
            init_settings,
            env_settings,
            dotenv_settings,
            file_secret_settings,
            fields=SECRET_FIELDS,
            secret_names=SECRET_NAMES,
        )

    @model_validator(mode="wrap")
    @classmethod
    def _keep_secret_cache(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        # The source hands its cache over with the values; the provider settings reuse it.
        cache = data.get(SECRET_CACHE_KEY) if isinstance(data, dict) else None
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if key != SECRET_CACHE_KEY}
        settings = handler(data)
        if cache is not None:
            settings._secret_cache = cache
        return settings

    @property
    def secret_cache(self) -> SecretCache | None:
        """The TTL cache of the secrets provider, for a component that re-reads a rotated secret."""
        return self._secret_cache

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str) -> str:
        return _require_scheme(value, ("postgresql://", "postgresql+psycopg://", "postgres://"))

    @field_validator("redis_url", "rate_limit_redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        return _require_scheme(value, ("redis://", "rediss://", "unix://"))

    @field_validator("rate_limit_per_ip", "rate_limit_per_principal", "rate_limit_chat", "rate_limit_mcp")
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        parse_limits(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str) -> str:
        if value not in EMBEDDER_KINDS:
            raise ValueError(f"unknown embedder {value!r} (known: {', '.join(EMBEDDER_KINDS)})")
        return value

    @field_validator("llm_chain")
    @classmethod
    def _known_providers(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in KNOWN_PROVIDERS]
        if unknown:
            raise ValueError(f"unknown provider {unknown[0]!r} (known: {', '.join(KNOWN_PROVIDERS)})")
        if len(set(names)) != len(names):
            raise ValueError("a provider appears twice")
        return ",".join(names)

    @model_validator(mode="after")
    def _stalled_after_heartbeats(self) -> Settings:
        if self.worker_stalled_after_seconds <= self.worker_heartbeat_seconds:
            raise ValueError(
                "WORKER_STALLED_AFTER_SECONDS must be longer than WORKER_HEARTBEAT_SECONDS, "
                "or every busy worker would look dead"
            )
        return self

    @field_validator("mcp_allowed_hosts")
    @classmethod
    def _some_mcp_host(cls, value: str) -> str:
        if not _listed(value):
            raise ValueError("names no host: every MCP request would be refused")
        return value

    @field_validator("jwt_secret", "jwt_private_key", "mcp_api_key", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("login_failures_per_username", "login_failures_per_address")
    @classmethod
    def _limit_syntax(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a limit like '5/15minutes'") from None
        return value

    @property
    def mcp_hosts(self) -> list[str]:
        return _listed(self.mcp_allowed_hosts)

    @property
    def mcp_origins(self) -> list[str]:
        return _listed(self.mcp_allowed_origins)

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allowed_origins.split(",") if origin.strip()]

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve in production (empty: nothing found)."""
        problems = []
        if self.jwt_algorithm is JwtAlgorithm.hs256:
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
            if not secret:
                problems.append("JWT_SECRET is not set")
            elif secret == EXAMPLE_JWT_SECRET:
                problems.append("JWT_SECRET is the example value from .env.example")
            elif len(secret.encode()) < 32:
                problems.append("JWT_SECRET is shorter than 32 bytes")
        elif not (self.jwt_public_key or self.jwt_jwks_url):
            problems.append(f"{self.jwt_algorithm.value} needs JWT_PUBLIC_KEY or JWT_JWKS_URL")
        for name, url in (("DATABASE_URL", self.database_url), ("REDIS_URL", self.redis_url)):
            password = urlsplit(url).password if url else None
            if password is not None and password.lower() in DEFAULT_PASSWORDS:
                problems.append(f"{name} uses a default password")
        if self.uses_embedded_db:
            problems.append("DATABASE_URL is not set: the embedded database is for development only")
        return problems

    @property
    def chain(self) -> list[str]:
        return [name for name in self.llm_chain.split(",") if name]

    def provider_settings(self) -> dict[str, ProviderSettings]:
        """Each provider of the chain with its settings; a bad value raises `SettingsError` naming it."""
        # Read once: validated at start by load_settings, then used to build the providers.
        if self._providers is None:
            self._providers = self._read_provider_settings()
        return self._providers

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Settings:
        """A copy whose provider settings are read afresh (an update may change the chain)."""
        copy = super().model_copy(update=update, deep=deep)
        copy._providers = None
        return copy

    def _read_provider_settings(self) -> dict[str, ProviderSettings]:
        providers = {}
        for name in self.chain:
            prefix = f"{name.upper()}_"
            if name in self.llm_providers:
                provider = self.llm_providers[name].model_copy()
            else:
                try:
                    # The cache the secret settings came through: one fetch serves the API keys too.
                    cache: dict[str, Any] = {SECRET_CACHE_KEY: self._secret_cache}
                    provider = ProviderSettings(_env_prefix=prefix, **cache)
                except ValidationError as exc:
                    raise SettingsError(describe_settings_error(exc, prefix=prefix)) from None
            if not provider.model:
                provider.model = DEFAULT_MODELS[name]
            if not provider.model and (provider.api_key or provider.base_url):
                raise SettingsError(f"invalid setting {prefix}MODEL: {name} is configured but has no model")
            providers[name] = provider
        return providers

    def prices(self) -> dict[str, tuple[float, float]]:
        return {**DEFAULT_PRICES, **self.llm_prices}

    @property
    def uses_embedded_db(self) -> bool:
        return not self.database_url

    @property
    def embedded_db_dir(self) -> Path:
        return self.data_dir / "postgres"

    def sqlalchemy_url(self) -> str:
        """The database URL with the psycopg 3 driver that SQLAlchemy, Alembic and the queue share."""
        url = self.database_url or (
            f"postgresql://postgres@127.0.0.1:{self.embedded_db_port}/{self.embedded_db_name}"
        )
        for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _require_scheme(value: str, schemes: tuple[str, ...]) -> str:
    if value and not value.startswith(schemes):
        raise ValueError(f"must start with one of {', '.join(schemes)}")
    return value


# The placeholder in .env.example: a copied example must never sign production tokens.
EXAMPLE_JWT_SECRET = "change-me-to-a-random-secret-of-at-least-32-bytes"
DEFAULT_PASSWORDS = frozenset(
    {"postgres", "password", "changeme", "change-me", "secret", "admin", "root", "redis"}
)


class SettingsError(Exception):
    """A setting has a bad value; the message is one line that names it."""


def load_settings() -> Settings:
    """Read and validate the settings, turning a validation failure into one clear line."""
    try:
        settings = Settings()
        settings.provider_settings()  # validated now, so a bad provider setting stops the start
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from None
    except SecretsError as exc:
        # Already one line naming the provider and what is wrong, never a value.
        raise SettingsError(str(exc)) from None
    if settings.app_env is AppEnv.production and (problems := settings.production_problems()):
        raise SettingsError("refusing to start in production: " + "; ".join(problems))
    return settings


def describe_settings_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per bad setting, each naming the environment variable and why it is refused."""
    problems = []
    for error in exc.errors():
        name = prefix + ".".join(str(part) for part in error["loc"]).upper() or "settings"
        # The value itself is not echoed: it may be a credential.
        problems.append(f"invalid setting {name}: {error['msg']}")
    return "; ".join(problems)
