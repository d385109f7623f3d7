"""`Settings`: every setting, in groups, each read from its flat environment variable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ModelWrapValidatorHandler, PrivateAttr, model_validator

from purpose_agent.secrets import SecretCache, SecretsConfig
from purpose_agent.settings.chat import ChatSettings
from purpose_agent.settings.knowledge import JobsSettings, KnowledgeSettings
from purpose_agent.settings.llm import LlmSettings
from purpose_agent.settings.mcp import McpSettings
from purpose_agent.settings.metrics import MetricsSettings
from purpose_agent.settings.providers import ProviderSettings, read_provider_settings
from purpose_agent.settings.rate_limits import RateLimitSettings
from purpose_agent.settings.security import JwtAlgorithm, SecuritySettings, jwt_secret_problem
from purpose_agent.settings.server import ObservabilitySettings, ServerSettings
from purpose_agent.settings.sources import (
    PROVIDED_SECRETS_KEY,
    SECRET_CACHE_KEY,
    EnvironmentSettings,
)
from purpose_agent.settings.storage import DatabaseSettings, RedisSettings
from purpose_agent.settings.telemetry import LogSinkSettings, TracingSettings
from purpose_agent.settings.variables import settings_variables

DEFAULT_PASSWORDS = frozenset(
    {"postgres", "password", "changeme", "change-me", "secret", "admin", "root", "redis"}
)


class Settings(EnvironmentSettings):
    """Every setting: `settings.database.pool_size` is read from DATABASE_POOL_SIZE.

    The groups are in the order of `.env.example`'s sections.
    """

    server: ServerSettings = Field(default_factory=ServerSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log_output: LogSinkSettings = Field(default_factory=LogSinkSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    mcp: McpSettings = Field(default_factory=McpSettings)

    _providers: dict[str, ProviderSettings] | None = PrivateAttr(default=None)
    # The cache the secret settings came through (None with SECRETS_PROVIDER=env).
    _secret_cache: SecretCache | None = PrivateAttr(default=None)

    # The secret variables whose values came from that provider: those a refresh may change.
    _provided_secrets: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_secret_cache(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        # The secrets source hands its cache over with the values; the provider settings reuse it.
        cache = data.get(SECRET_CACHE_KEY) if isinstance(data, dict) else None
        provided = data.get(PROVIDED_SECRETS_KEY) if isinstance(data, dict) else None
        if isinstance(data, dict):
            passed = (SECRET_CACHE_KEY, PROVIDED_SECRETS_KEY)
            data = {key: value for key, value in data.items() if key not in passed}
        settings = handler(data)
        if cache is not None:
            settings._secret_cache = cache
        if provided is not None:
            settings._provided_secrets = frozenset(provided)
        return settings

    @property
    def secret_cache(self) -> SecretCache | None:
        """The secrets provider's cache the secret settings came through (None with SECRETS_PROVIDER=env);
        the LLM providers' keys are read through it too."""
        return self._secret_cache

    @property
    def provided_secrets(self) -> frozenset[str]:
        """The secret variables (JWT_SECRET, ...) whose values came from the secrets provider, not from a
        source that wins over it (the environment, a NAME_FILE, a value given): the ones it may rotate."""
        return self._provided_secrets

    def provider_settings(self) -> dict[str, ProviderSettings]:
        """Each provider of the chain with its settings; a bad value raises `SettingsError` naming it."""
        # Read once: validated at start by load_settings, then used to build the providers.
        if self._providers is None:
            self._providers = read_provider_settings(
                self.llm.provider_names, self.llm.providers, self._secret_cache
            )
        return self._providers

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve in production (empty: nothing found)."""
        problems = []
        security = self.security
        if security.jwt_algorithm is JwtAlgorithm.hs256:
            secret = security.jwt_secret.get_secret_value() if security.jwt_secret else ""
            if (problem := jwt_secret_problem(secret)) is not None:
                problems.append(problem)
        elif not (security.jwt_public_key or security.jwt_jwks_url):
            problems.append(f"{security.jwt_algorithm.value} needs JWT_PUBLIC_KEY or JWT_JWKS_URL")
        for name, url in (("DATABASE_URL", self.database.url), ("REDIS_URL", self.redis.url)):
            password = urlsplit(url).password if url else None
            if password is not None and password.lower() in DEFAULT_PASSWORDS:
                problems.append(f"{name} uses a default password")
        if self.database.uses_embedded:
            problems.append("DATABASE_URL is not set: the embedded database is for development only")
        return problems

    def changed(self, **values: Any) -> Settings:
        """A copy with these settings changed, each named by its variable in any case (`redis_url=""`),
        validated as at a start; nothing is read again from the environment."""
        variables = {variable.name: variable for variable in settings_variables(type(self))}
        groups: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            variable = variables.get(name.upper())
            if variable is None or variable.group is None:
                raise ValueError(f"no setting is named {name.upper()}")
            group = groups.setdefault(variable.group, self._group_values(variable.group))
            group[variable.key] = value
        updates = {
            name: type(getattr(self, name)).model_validate(group_values)
            for name, group_values in groups.items()
        }
        return self.model_copy(update=updates)

    def _group_values(self, group: str) -> dict[str, Any]:
        model = getattr(self, group)
        return {str(field.alias): getattr(model, name) for name, field in type(model).model_fields.items()}

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Settings:
        """A copy whose provider settings are read afresh (an update may change the chain)."""
        copy = super().model_copy(update=update, deep=deep)
        copy._providers = None
        return copy
