"""The HTTP server's settings, and those of its logs and health checks."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from purpose_agent.settings.fields import Port, group_config


class AppEnv(StrEnum):
    development = "development"
    production = "production"


class LogLevel(StrEnum):
    debug = "DEBUG"
    info = "INFO"
    warning = "WARNING"
    error = "ERROR"


class ServerSettings(BaseModel):
    """HTTP server"""

    model_config = group_config()

    host: str = "127.0.0.1"
    """Address and port the API binds to."""
    port: Port = 8000
    api_workers: Annotated[int, Field(ge=1, le=64)] = 1
    """API processes serving the port: about one per core (each holds its own pool, embedder and caches)."""
    app_env: AppEnv = AppEnv.development
    """development | production (production turns on HSTS and stricter defaults as they land)."""
    service_name: str = "purpose-agent"
    """Name written in every log line as `service`."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    """Requests with a larger body get 413 (bytes; uploads get their own limit)."""
    request_head_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    """A request's line and headers must arrive within this many seconds of the connection (or of the
    request's first byte on a kept-alive one): otherwise 408 and the connection is closed (slow clients)."""
    max_request_head_bytes: Annotated[int, Field(ge=8192, le=1_048_576)] = 65_536
    """A request line and headers larger than this get 431 and the connection is closed (bytes)."""
    request_body_idle_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """A request body that stops arriving for this many seconds closes its connection."""


class ObservabilitySettings(BaseModel):
    """Logs and health"""

    model_config = group_config()

    log_level: LogLevel = LogLevel.info
    """DEBUG | INFO | WARNING | ERROR"""
    log_redact_ip_addresses: bool = True
    """Replace IP addresses in log lines with [IP] (personal data in many jurisdictions)."""
    readiness_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 2.0
    """Each readiness check gives up after this many seconds."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
