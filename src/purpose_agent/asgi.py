"""The app as an ASGI server's worker process builds it: settings and logging from the environment.

`purpose-agent serve` with API_WORKERS above 1 hands uvicorn this factory by name, and each worker
process calls it: every process reads the same environment (and secrets provider) for itself.
"""

from __future__ import annotations

from fastapi import FastAPI

from purpose_agent.app import create_app
from purpose_agent.composition import configure_telemetry
from purpose_agent.settings import load_settings

FACTORY = "purpose_agent.asgi:app_from_environment"


def app_from_environment() -> FastAPI:
    """The API configured by this process's environment, with its logging (and tracing) set up."""
    settings = load_settings()
    configure_telemetry(settings)
    return create_app(settings)
