"""Prometheus metrics: who may read the API's `/metrics`, and where the worker serves its own."""

from __future__ import annotations

import re
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, SecretStr, field_validator

from purpose_agent.settings.fields import OptionalSecret, blank_is_none, group_config

# What an Authorization: Bearer header can carry (RFC 6750's b64token).
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")
MIN_TOKEN_CHARS = 16


class MetricsSettings(BaseModel):
    """Metrics
    GET /metrics on the API serves Prometheus' text format to clients on this machine (loopback); others
    need Authorization: Bearer METRICS_TOKEN, or get 403. The worker serves its own metrics (the job
    queue) on WORKER_METRICS_HOST:WORKER_METRICS_PORT, under the same rule."""

    model_config = group_config()

    metrics_token: OptionalSecret = None
    """Bearer token that lets Prometheus scrape from another machine (16 characters or more, as an
    Authorization header carries them: letters, digits, - . _ ~ + /). Empty: loopback clients only."""
    worker_metrics_host: str = "127.0.0.1"
    """Address and port of the worker's metrics (0: none). Each worker on one machine needs its own
    port."""
    worker_metrics_port: Annotated[int, Field(ge=0, le=65535)] = 8001
    prometheus_multiproc_dir: Annotated[
        Path | None, BeforeValidator(blank_is_none), Field(alias="PROMETHEUS_MULTIPROC_DIR")
    ] = None
    """prometheus-client's folder for the metrics of several API processes: `purpose-agent serve` uses it
    with API_WORKERS > 1, emptied at each start (empty: DATA_DIR/metrics)."""

    @field_validator("metrics_token")
    @classmethod
    def _bearer_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters")
        if not _TOKEN.fullmatch(token):
            raise ValueError("may hold only letters, digits and - . _ ~ + / (an Authorization header's)")
        return value

    @field_validator("worker_metrics_host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            ip_address(value)
        except ValueError:
            if not _HOSTNAME.fullmatch(value):
                raise ValueError("must be an IP address or a host name") from None
        return value
