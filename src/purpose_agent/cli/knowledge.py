"""`purpose-agent ingest` and `reindex`: fill the knowledge base from a folder, re-embed all of it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from purpose_agent.cli.common import check_embedder, fail, settings_and_logging

if TYPE_CHECKING:
    from purpose_agent.knowledge.folder import FileResult


def reindex() -> None:
    """Re-embed every document with the configured embedder (after changing EMBEDDER)."""
    from purpose_agent.composition import embedder_from
    from purpose_agent.db.engine import create_engine, create_sessionmaker
    from purpose_agent.knowledge.chunking import ChunkingPolicy
    from purpose_agent.knowledge.reindex import reindex_all

    settings = settings_and_logging()
    embedder = embedder_from(settings)
    policy = ChunkingPolicy(
        max_tokens=embedder.max_tokens, overlap_tokens=settings.knowledge.chunk_overlap_tokens
    )

    async def run() -> dict[str, int]:
        engine = create_engine(settings.database.sqlalchemy_url(), pool_size=2, connect_timeout=5)
        try:
            return await reindex_all(
                create_sessionmaker(engine),
                embedder,
                policy,
                on_progress=lambda done, total: typer.echo(f"re-embedded {done}/{total} documents"),
            )
        finally:
            await engine.dispose()
            await embedder.aclose()

    counts = asyncio.run(run())
    typer.echo(f"index rebuilt for {embedder.name}: {counts['ready']} ready, {counts['failed']} failed")


def ingest(
    path: Annotated[Path, typer.Argument(help="A folder holding one sub-folder per category.")],
    prune: Annotated[
        bool, typer.Option(help="Delete folder-ingested documents whose files are gone.")
    ] = False,
    wait: Annotated[
        bool, typer.Option(help="Run the ingestion here and wait for it (--no-wait leaves it to workers).")
    ] = True,
) -> None:
    """Ingest PATH/{category}/**: new and changed files are (re)indexed, unchanged ones skipped."""
    from purpose_agent.processes import ingest_process

    settings = settings_and_logging()
    if not path.is_dir():
        raise fail(f"{path} is not a folder")
    check_embedder(settings)

    def show(result: FileResult) -> None:
        where = f"{result.category}/{result.name}" if result.category else str(result.path)
        extra = f" (job {result.job_id})" if result.job_id and result.outcome != "unchanged" else ""
        reason = f": {result.reason}" if result.reason else ""
        typer.echo(f"{result.outcome:<9} {where}{extra}{reason}")

    report, documents = asyncio.run(ingest_process(settings, path, prune=prune, wait=wait, on_file=show))
    for category, name in report.pruned:
        typer.echo(f"pruned    {category}/{name}")
    for document in documents:
        detail = f"{document.chunks} chunks" if document.status == "ready" else document.error or ""
        typer.echo(f"{document.status:<9} {document.category}/{document.name}: {detail}")
    counts = ", ".join(
        f"{report.count(outcome)} {outcome}" for outcome in ("created", "replaced", "unchanged", "skipped")
    )
    queued = "; queued for the workers" if report.job_ids and not wait else ""
    typer.echo(f"{counts}, {len(report.pruned)} pruned{queued}")
    if any(document.status == "failed" for document in documents):
        raise typer.Exit(code=1)
