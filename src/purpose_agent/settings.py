"""The only module that reads the environment: every setting, typed and validated once at start.

Values come from the process environment first, then from a `.env` file in the working directory.
`.env.example` documents each one. Nothing below `app.py` and `cli.py` imports this module's
`Settings`: they receive the values they need as arguments.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AppEnv(StrEnum):
    development = "development"
    production = "production"


class LogLevel(StrEnum):
    debug = "DEBUG"
    info = "INFO"
    warning = "WARNING"
    error = "ERROR"


Port = Annotated[int, Field(ge=1, le=65535)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    host: str = "127.0.0.1"
    port: Port = 8000
    app_env: AppEnv = AppEnv.development
    service_name: str = "purpose-agent"
    log_level: LogLevel = LogLevel.info
    log_redact_ip_addresses: bool = True

    # Empty means: use the embedded PostgreSQL started from `data_dir`.
    database_url: str = ""
    database_pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    database_connect_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    embedded_db_port: Port = 5433
    embedded_db_name: str = "purpose_agent"
    data_dir: Path = Path(".data")

    # Empty means: no Redis; counters stay in memory of one process.
    redis_url: str = ""

    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    readiness_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 2.0

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url", "redis_url")
    @classmethod
    def _known_scheme(cls, value: str, info: object) -> str:
        field = getattr(info, "field_name", "")
        schemes = ("postgresql://", "postgresql+psycopg://", "postgres://")
        if field == "redis_url":
            schemes = ("redis://", "rediss://", "unix://")
        if value and not value.startswith(schemes):
            raise ValueError(f"must start with one of {', '.join(schemes)}")
        return value

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


class SettingsError(Exception):
    """A setting has a bad value; the message is one line that names it."""


def load_settings() -> Settings:
    """Read and validate the settings, turning a validation failure into one clear line."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from None


def describe_settings_error(exc: ValidationError) -> str:
    """One line per bad setting, each naming the environment variable and why it is refused."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]).upper() or "settings"
        # The value itself is not echoed: it may be a credential.
        problems.append(f"invalid setting {name}: {error['msg']}")
    return "; ".join(problems)
