"""The app as an ASGI server's worker process builds it: settings and logging from the environment.

`purpose-agent serve` with API_WORKERS above 1 hands uvicorn this factory by name, and each worker
process calls it: every process reads the same environment (and secrets provider) for itself.
"""

from __future__ import annotations

from fastapi import FastAPI

from purpose_agent import __version__
from purpose_agent.app import create_app
from purpose_agent.kit.logging import configure_logging
from purpose_agent.kit.redaction import Redactor
from purpose_agent.settings import load_settings

FACTORY = "purpose_agent.asgi:app_from_environment"


def app_from_environment() -> FastAPI:
    """The API configured by this process's environment, with its logging set up."""
    settings = load_settings()
    configure_logging(
        level=settings.observability.log_level.value,
        service=settings.server.service_name,
        version=__version__,
        redactor=Redactor(redact_ip_addresses=settings.observability.log_redact_ip_addresses),
    )
    return create_app(settings)
