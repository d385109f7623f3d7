"""`purpose-agent serve`: the HTTP API in the foreground (also what `up` runs last)."""

from __future__ import annotations

import contextlib
import os
import resource
from typing import Annotated, Any

import typer
import uvicorn

from purpose_agent.cli.common import check_embedder, settings_and_logging
from purpose_agent.kit.http_protocol import ConnectionLimits, guarded_http
from purpose_agent.settings import Settings


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default: PORT).")] = None,
) -> None:
    """Serve the HTTP API in the foreground."""
    run_server(settings_and_logging(), host, port)


def run_server(
    settings: Settings, host: str | None, port: int | None, *, embedder_checked: bool = False
) -> None:
    """Serve until Ctrl-C or SIGTERM, in one process or API_WORKERS."""
    from purpose_agent.asgi import FACTORY

    if not embedder_checked:
        check_embedder(settings)
    _raise_open_files_limit()
    options: dict[str, Any] = {
        "host": host or settings.server.host,
        "port": port or settings.server.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        # Client addresses from X-Forwarded-For are trusted only from configured proxies (security issue).
        "proxy_headers": False,
        # uvicorn's protocol with bounds on slow and oversized request heads and stalled bodies.
        "http": guarded_http(
            ConnectionLimits(
                head_timeout=settings.server.request_head_timeout_seconds,
                body_idle_timeout=settings.server.request_body_idle_timeout_seconds,
                max_head_bytes=settings.server.max_request_head_bytes,
            )
        ),
    }
    # uvicorn re-raises Ctrl-C after its graceful shutdown; by then all is closed.
    with contextlib.suppress(KeyboardInterrupt):
        if settings.server.api_workers > 1:
            _share_metrics(settings)
            # Each worker process builds its own app (pool, embedder, caches) from the environment.
            uvicorn.run(FACTORY, factory=True, workers=settings.server.api_workers, **options)
        else:
            from purpose_agent.app import create_app

            uvicorn.Server(uvicorn.Config(create_app(settings), **options)).run()


def _share_metrics(settings: Settings) -> None:
    """Have the API processes keep their metrics in one directory, emptied first, so that a scrape of
    any of them reports them all (prometheus-client's multiprocess mode). The processes read it from
    the environment before their first metric is made, so it is set before they start."""
    from purpose_agent.composition import MULTIPROCESS_VARIABLE, multiprocess_dir
    from purpose_agent.kit.metrics_exposition import prepare_multiprocess_dir

    directory = multiprocess_dir(settings).resolve()
    prepare_multiprocess_dir(directory)
    os.environ[MULTIPROCESS_VARIABLE] = str(directory)


def _raise_open_files_limit() -> None:
    """Allow as many open files as the system lets this process have: each stream holds a client's
    connection and a provider's, and the usual soft limit of 1,024 stops a busy server at 500 streams."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
