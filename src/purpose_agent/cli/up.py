"""`purpose-agent up` (`make run`): everything a new user needs, started in one command."""

from __future__ import annotations

import asyncio
import sys

import typer

from purpose_agent import __version__
from purpose_agent.cli.common import (
    check_embedder,
    database_session,
    embedded_database,
    fail,
    migrate_database,
    settings_and_logging,
)
from purpose_agent.cli.personas import import_personas_file
from purpose_agent.cli.serve import run_server
from purpose_agent.db.embedded import EmbeddedDatabaseError
from purpose_agent.kit.supervisor import Supervised
from purpose_agent.settings import Settings


def up() -> None:
    """Start the embedded database if used, migrate, queue the sample knowledge, run the worker and the API.

    Ctrl-C stops everything it started."""
    settings = settings_and_logging()
    database = embedded_database(settings) if settings.database.uses_embedded else None
    started_database = False
    if database is not None:
        started_database = not database.status().running
        try:
            database.start(databases=(settings.database.embedded_name,))
        except EmbeddedDatabaseError as exc:
            raise fail(str(exc)) from None
    worker: Supervised | None = None
    try:
        migrate_database(settings)
        check_embedder(settings)
        _first_admin_key(settings)
        _seed_personas(settings)
        _seed_knowledge(settings)
        # The worker runs beside the API, as in production, and stops with it; one that fails (a crash,
        # the OOM killer) is started again. (With API_WORKERS > 1, uvicorn restarts its own processes.)
        worker = Supervised("worker", [sys.executable, "-m", "purpose_agent", "worker"])
        worker.start()
        base = f"http://{settings.server.host}:{settings.server.port}"
        typer.echo(f"Purpose-Agent {__version__} is starting at {base}")
        typer.echo(f"  console:   {base}/  (sign in with the admin key)")
        typer.echo(f"  API docs:  {base}/api/docs")
        typer.echo(f"  health:    {base}/health  and  {base}/health/ready")
        typer.echo(f"  worker:    pid {worker.pid}")
        metrics = settings.metrics
        worker_metrics = (
            f" (worker: http://{metrics.worker_metrics_host}:{metrics.worker_metrics_port}/metrics)"
            if metrics.worker_metrics_port
            else ""
        )
        typer.echo(f"  metrics:   {base}/metrics{worker_metrics}")
        typer.echo("  stop with Ctrl-C")
        run_server(settings, None, None, embedder_checked=True)
    finally:
        if worker is not None:
            # A Ctrl-C in the terminal has already sent it SIGINT; SIGTERM makes sure.
            worker.stop()
            typer.echo("worker stopped")
        if database is not None and started_database:
            database.stop()
            typer.echo("embedded database stopped")


def _seed_knowledge(settings: Settings) -> None:
    """Queue the sample knowledge folder's new and changed files (unchanged ones cost nothing)."""
    from purpose_agent.processes import ingest_process

    folder = settings.knowledge.seed_dir
    if not folder.is_dir():
        return
    report, _ = asyncio.run(ingest_process(settings, folder, prune=False, wait=False, on_file=lambda _: None))
    for result in report.files:
        if result.outcome == "skipped":
            typer.echo(f"knowledge: skipped {result.path}: {result.reason}", err=True)
    typer.echo(
        f"knowledge: {len(report.job_ids)} document(s) from {folder}/ queued for ingestion, "
        f"{report.count('unchanged')} unchanged"
    )


def _first_admin_key(settings: Settings) -> None:
    """On the first start (no live admin key yet), make one and print it: the only time it is shown."""
    from purpose_agent.auth.keys import any_live_admin_key, create_key
    from purpose_agent.auth.principal import Role

    async def ensure() -> str | None:
        async with database_session(settings) as session:
            if await any_live_admin_key(session):
                return None
            return (await create_key(session, name="development admin", role=Role.admin)).secret

    secret = asyncio.run(ensure())
    if secret is not None:
        typer.echo("  development admin key (shown once; keep it, or make another with")
        typer.echo(f"  `purpose-agent keys create --role admin`): {secret}")


def _seed_personas(settings: Settings) -> None:
    """Upsert the personas file at every start; an invalid one stops the start."""
    path = settings.chat.personas_file
    if not path.is_file():
        return
    results = import_personas_file(settings, path)
    counts = ", ".join(
        f"{count} {outcome}"
        for outcome in ("created", "updated", "unchanged")
        if (count := sum(1 for _, result in results if result == outcome))
    )
    typer.echo(f"personas: {len(results)} from {path} ({counts or 'none'})")
