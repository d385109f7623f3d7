"""The `purpose-agent` command: serve the API, run the worker, manage the embedded database.

Each command group is a module; this one puts them together in the order `--help` lists them.

    common.py     settings and logging, one-line failures, the database, the embedder check
    db.py         migrate, backup, restore; db start, stop, status
    serve.py      serve
    mcp.py        mcp (stdio, for desktop clients)
    up.py         up: the embedded database, migrations, seeds, the worker and the API at once
    knowledge.py  ingest, reindex
    worker.py     worker
    keys.py       keys create, revoke
    users.py      users create
    personas.py   personas import, export
    eval.py       eval: a question set run against a live service, scored
"""

from __future__ import annotations

import typer

from purpose_agent import __version__
from purpose_agent.cli import db, keys, knowledge, mcp, personas, serve, up, users, worker
from purpose_agent.cli.eval import evaluate

app = typer.Typer(help="Purpose-Agent: configurable agents that answer from their own knowledge.")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


app.command()(db.migrate)
app.command()(db.backup)
app.command()(db.restore)
app.command()(serve.serve)
app.command("mcp")(mcp.mcp_stdio)
app.command()(up.up)
app.command()(knowledge.reindex)
app.command()(worker.worker)
app.command()(knowledge.ingest)
app.command("eval")(evaluate)
app.add_typer(db.db_app, name="db")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(users.users_app, name="users")
app.add_typer(personas.personas_app, name="personas")
