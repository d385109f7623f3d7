"""Where state is kept: the database (the embedded one, or DATABASE_URL's) and Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from purpose_agent.settings.fields import DatabaseUrl, Port, RedisUrl, group_config


class DatabaseSettings(BaseModel):
    """Database"""

    model_config = group_config("database_")

    url: DatabaseUrl = ""
    """Empty: use the embedded PostgreSQL (with pgvector) in DATA_DIR/postgres on 127.0.0.1:EMBEDDED_DB_PORT.
    Set it to use your own server, e.g. postgresql://user:password@db.internal:5432/purpose_agent
    (the server needs the pgvector extension available)."""
    pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    """Connections per API process (no overflow); transactions are short, none spans a model call."""
    pool_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    """A request waits this long for a free connection, then gets a 503 problem with Retry-After."""
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    embedded_port: Annotated[Port, Field(alias="EMBEDDED_DB_PORT")] = 5433
    embedded_name: Annotated[str, Field(alias="EMBEDDED_DB_NAME")] = "purpose_agent"
    data_dir: Annotated[Path, Field(alias="DATA_DIR")] = Path(".data")
    """Where local state lives: the embedded database and its log."""

    @property
    def uses_embedded(self) -> bool:
        return not self.url

    @property
    def embedded_dir(self) -> Path:
        return self.data_dir / "postgres"

    def sqlalchemy_url(self) -> str:
        """The database URL with the psycopg 3 driver that SQLAlchemy, Alembic and the queue share."""
        url = self.url or f"postgresql://postgres@127.0.0.1:{self.embedded_port}/{self.embedded_name}"
        for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url


class RedisSettings(BaseModel):
    """Redis"""

    model_config = group_config("redis_")

    url: RedisUrl = ""
    """Empty: counters (rate limits, breakers, key quotas) stay in one process. Set it with several replicas,
    e.g. redis://127.0.0.1:6379/0"""
    max_connections: Annotated[int, Field(ge=1, le=10_000)] = 200
    """Connections per process, and the longest a Redis call (or the wait for a free connection) may take;
    past it, breakers, rate limits and key quotas fall back to this process's memory until Redis
    answers again."""
    timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 1.0
