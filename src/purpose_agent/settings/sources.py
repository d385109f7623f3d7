"""Where settings come from, in one order: init values, the environment, files named in the environment
(JWT_SECRET_FILE), the secrets provider, `.env`, then the defaults.

Each setting is read under its flat variable name, also in a group: `settings.database.pool_size` from
DATABASE_POOL_SIZE. pydantic-settings reads a nested model only under a nested name (DATABASE__...),
so each source here reads setting by setting, through pydantic-settings' own reading of the
environment and `.env` (JSON values included), and nests what it finds into its group.

The secret settings (SECRET_VARIABLES) may come from the provider chosen with SECRETS_PROVIDER:
below the environment, so an operator's explicit variable still wins, and above `.env` and the
defaults. The provider's TTL cache travels under SECRET_CACHE_KEY in the values: the settings keep
it and hand it to the settings they read later (each LLM provider's), so one fetch serves them all.

Each secret setting may also be read from the file its NAME_FILE variable names, as Docker and
Kubernetes mount secrets (`JWT_SECRET_FILE=/run/secrets/jwt_secret`). A file named that cannot be read
stops the start with a line naming the variable and the path: a secret that was meant to be there and
is not must never fall back to a default.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceError

from purpose_agent.secrets import SecretCache, SecretsConfig, open_secret_cache, read_secret_file
from purpose_agent.settings.variables import Variable, settings_variables
from purpose_agent.vocabulary import KNOWN_PROVIDERS

SECRET_CACHE_KEY = "__secret_cache__"
# Beside the cache: the secret variables whose values came from the provider (no source above it set
# them), the ones a background refresh may change.
PROVIDED_SECRETS_KEY = "__provided_secrets__"
# The settings that are secrets: with SECRETS_PROVIDER set, read from it unless the environment sets
# them (an operator's override), and in preference to .env and the defaults.
SECRET_VARIABLES = (
    "JWT_SECRET",
    "JWT_PRIVATE_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "EMBEDDER_API_KEY",
    "METRICS_TOKEN",
    "SEQ_API_KEY",
    *(f"{name.upper()}_API_KEY" for name in KNOWN_PROVIDERS if name != "local"),
)


class EnvironmentSettings(BaseSettings):
    """A settings class read from its variables: init values, the environment, the secrets provider,
    `.env` in the working directory, then the defaults."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # file_secret_settings (pydantic's secrets_dir) is left out: secret files are SECRETS_PROVIDER=file.
        assert isinstance(init_settings, InitSettingsSource)
        assert isinstance(env_settings, EnvSettingsSource)
        assert isinstance(dotenv_settings, EnvSettingsSource)
        variables = settings_variables(settings_cls, prefix=env_settings.env_prefix)
        dotenv = _Variables(settings_cls, variables, dotenv_settings)
        return (
            _InitValues(settings_cls, variables, init_settings),
            _Variables(settings_cls, variables, env_settings),
            _SecretFiles(settings_cls, _secret(variables), env_settings),
            _SecretsProvider(settings_cls, variables, dotenv),
            dotenv,
        )


# A setting a source does not hold (None may be a value given, as in `api_key=None`).
_ABSENT = object()


class _BySetting(PydanticBaseSettingsSource):
    """A source read setting by setting, each value put into its group."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Sequence[Variable]) -> None:
        super().__init__(settings_cls)
        self._variables = variables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ reads every setting through `_value`.
        return None, field_name, False

    @abstractmethod
    def _value(self, variable: Variable) -> Any:
        """The setting's value in this source, or _ABSENT."""

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for variable in self._variables:
            value = self._value(variable)
            if value is not _ABSENT:
                variable.place(values, value)
        return values


class _Variables(_BySetting):
    """The environment or `.env`, as pydantic-settings reads them."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        variables: Sequence[Variable],
        source: EnvSettingsSource,
    ) -> None:
        super().__init__(settings_cls, variables)
        self._source = source

    def _value(self, variable: Variable) -> Any:
        value, _, is_complex = self._source.get_field_value(variable.field, variable.field_name)
        try:
            value = self._source.prepare_field_value(variable.field_name, variable.field, value, is_complex)
        except ValueError as exc:
            # One line naming the variable, as for any bad setting; never the value (it may be a secret).
            raise SourceError(f"invalid setting {variable.name}: not valid JSON") from exc
        return _ABSENT if value is None else value


class _InitValues(_BySetting):
    """The values given to the constructor: by variable name in any case (`Settings(database_url=...)`),
    or by field name for a field outside a group. Any other value is passed on (the secret cache)."""

    def __init__(
        self, settings_cls: type[BaseSettings], variables: Sequence[Variable], source: InitSettingsSource
    ) -> None:
        super().__init__(settings_cls, variables)
        self._given = source.init_kwargs
        self._names = {name.lower(): name for name in self._given}

    def _value(self, variable: Variable) -> Any:
        name = self._names.get(variable.key.lower())
        return _ABSENT if name is None else self._given[name]

    def __call__(self) -> dict[str, Any]:
        settings = {variable.key.lower() for variable in self._variables}
        others = {name: value for name, value in self._given.items() if name.lower() not in settings}
        return {**others, **super().__call__()}


def _secret(variables: Sequence[Variable]) -> list[Variable]:
    return [variable for variable in variables if variable.name in SECRET_VARIABLES]


class _SecretFiles(_Variables):
    """The settings whose NAME_FILE variable the environment sets, each read from that file."""

    def _value(self, variable: Variable) -> Any:
        given = self._given(f"{variable.name}_FILE")
        if not given:
            return _ABSENT
        if self._given(variable.name):
            raise SourceError(f"set {variable.name} or {variable.name}_FILE, not both")
        path = Path(given)
        try:
            return read_secret_file(path)
        except OSError as exc:
            raise SourceError(f"{variable.name}_FILE: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SourceError(f"{variable.name}_FILE: {path} is not UTF-8 text") from None

    def _given(self, name: str) -> str | None:
        # Keys are lower case: the settings read the environment case-insensitively.
        return self._source.env_vars.get(name.lower())


class _SecretsProvider(_BySetting):
    """The secret settings from the provider chosen with SECRETS_PROVIDER, through its TTL cache."""

    def __init__(
        self, settings_cls: type[BaseSettings], variables: Sequence[Variable], dotenv: _Variables
    ) -> None:
        super().__init__(settings_cls, _secret(variables))
        self._dotenv = dotenv
        self._fetched: dict[str, str] = {}

    def __call__(self) -> dict[str, Any]:
        if not self._variables:
            return {}
        cache = self._cache()
        if cache is None:
            return {}
        # Every secret variable, asked for in one call so that the cache covers later readers too.
        self._fetched = cache.get(sorted(SECRET_VARIABLES))
        provided = frozenset(
            variable.name
            for variable in self._variables
            if variable.name in self._fetched and not self._set_above(variable)
        )
        return {**super().__call__(), SECRET_CACHE_KEY: cache, PROVIDED_SECRETS_KEY: provided}

    def _set_above(self, variable: Variable) -> bool:
        """Whether a source above this one (init values, the environment, a NAME_FILE) set it."""
        state = self.current_state
        held = state.get(variable.group, {}) if variable.group else state
        return isinstance(held, dict) and variable.key in held

    def _value(self, variable: Variable) -> Any:
        return self._fetched.get(variable.name, _ABSENT)

    def _cache(self) -> SecretCache | None:
        state = self.current_state
        if SECRET_CACHE_KEY in state:
            cache: SecretCache | None = state[SECRET_CACHE_KEY]
            return cache
        group = next(
            (
                name
                for name, field in self.settings_cls.model_fields.items()
                if field.annotation is SecretsConfig
            ),
            None,
        )
        if group is None:
            return None
        # The provider's own settings, with the same precedence as any other: init, environment, .env.
        given = {**self._dotenv().get(group, {}), **state.get(group, {})}
        return open_secret_cache(SecretsConfig.model_validate(given))
