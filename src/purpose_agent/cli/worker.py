"""`purpose-agent worker`: the background worker, in the foreground."""

from __future__ import annotations

import asyncio

import typer

from purpose_agent.cli.common import check_embedder, fail, settings_and_logging


def worker() -> None:
    """Run the background worker (document ingestion, stalled-job checks) until Ctrl-C or SIGTERM."""
    from purpose_agent.kit.metrics_server import MetricsServerError
    from purpose_agent.processes import worker_process

    settings = settings_and_logging()
    check_embedder(settings)
    typer.echo("worker running; stop with Ctrl-C (running jobs finish first)")
    try:
        asyncio.run(worker_process(settings))
    except MetricsServerError as exc:
        raise fail(str(exc)) from None
