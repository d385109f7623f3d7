"""The pydantic-settings source that puts the secrets provider between the environment and `.env`.

A settings class lists its secret fields; the source fetches their variables (through the TTL
cache) and answers them below the environment, so an operator's explicit variable still wins, and
above `.env` and the defaults. The cache travels under `SECRET_CACHE_KEY` in the values: the
settings object keeps it, and hands it to the settings it builds later (each LLM provider's), so one
fetch serves them all. Validation drops the key (`extra="ignore"`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from purpose_agent.secrets.cache import SecretCache
from purpose_agent.secrets.config import SecretsConfig, open_secret_cache

SECRET_CACHE_KEY = "__secret_cache__"


class SecretsProviderSource(PydanticBaseSettingsSource):
    """The secret `fields` (field name to variable name) from the configured provider."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        dotenv: PydanticBaseSettingsSource,
        *,
        fields: Mapping[str, str],
        fetch: Collection[str],
    ) -> None:
        super().__init__(settings_cls)
        self._dotenv = dotenv
        self._fields = dict(fields)
        # Every secret variable, asked for in one call so that the cache covers later readers too.
        self._fetch = sorted({*fetch, *fields.values()})

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ answers every field at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if not self._fields:
            return {}
        cache = self._cache()
        if cache is None:
            return {}
        values = cache.get(self._fetch)
        found: dict[str, Any] = {
            field: values[name] for field, name in self._fields.items() if name in values
        }
        found[SECRET_CACHE_KEY] = cache
        return found

    def _cache(self) -> SecretCache | None:
        state = self.current_state
        if SECRET_CACHE_KEY in state:
            cache: SecretCache | None = state[SECRET_CACHE_KEY]
            return cache
        # The provider's own settings, with the same precedence as any other: init, environment, .env.
        given = {**self._dotenv(), **state}
        config = SecretsConfig.model_validate(
            {name: given[name] for name in SecretsConfig.model_fields if name in given}
        )
        return open_secret_cache(config)


def with_secrets_source(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
    *,
    fields: Collection[str],
    secret_names: Collection[str],
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources in order: init, environment, the secrets provider, `.env`, secret files.

    `fields` are the settings class's candidates; those whose variable (with the class's env prefix,
    as OPENAI_ for OPENAI_API_KEY) is one of `secret_names` are read from the provider.
    """
    prefix = str(getattr(env_settings, "env_prefix", "") or "")
    names = {field: f"{prefix}{field}".upper() for field in fields}
    secrets = SecretsProviderSource(
        settings_cls,
        dotenv_settings,
        fields={field: name for field, name in names.items() if name in secret_names},
        fetch=secret_names,
    )
    return init_settings, env_settings, secrets, dotenv_settings, file_secret_settings
