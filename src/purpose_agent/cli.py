"""The `purpose-agent` command: serve the API, run the worker, manage the embedded database."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
import uvicorn

from purpose_agent import __version__
from purpose_agent.db.embedded import EmbeddedDatabaseError, EmbeddedPostgres
from purpose_agent.kit.logging import configure_logging
from purpose_agent.kit.redaction import Redactor
from purpose_agent.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from purpose_agent.knowledge.folder import FileResult

app = typer.Typer(help="Purpose-Agent: configurable agents that answer from their own knowledge.")
db_app = typer.Typer(help="The embedded PostgreSQL in DATA_DIR (unused when DATABASE_URL is set).")
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="API keys: create (shown once) and revoke.")
app.add_typer(keys_app, name="keys")
users_app = typer.Typer(help="Users who sign in with a password (POST /api/auth/token).")
app.add_typer(users_app, name="users")
personas_app = typer.Typer(help="Personas: import from a JSON or YAML file, export to JSON.")
app.add_typer(personas_app, name="personas")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _settings(log_stream: TextIO | None = None) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    configure_logging(
        level=settings.observability.log_level.value,
        service=settings.server.service_name,
        version=__version__,
        redactor=Redactor(redact_ip_addresses=settings.observability.log_redact_ip_addresses),
        stream=log_stream,
    )
    return settings


def _embedded(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.database.embedded_dir, settings.database.embedded_port)


def _migrate(settings: Settings) -> None:
    from sqlalchemy.exc import OperationalError

    from purpose_agent.db.migrate import upgrade

    try:
        upgrade(settings.database.sqlalchemy_url())
    except OperationalError:
        hint = (
            "start it with `purpose-agent db start`"
            if settings.database.uses_embedded
            else "check DATABASE_URL"
        )
        raise _fail(f"cannot reach the database; {hint}") from None


def _check_embedder(settings: Settings) -> None:
    """Stop before serving when the index holds vectors of another embedder than the configured one."""
    from purpose_agent.composition import embedder_from
    from purpose_agent.db.engine import create_engine, create_sessionmaker
    from purpose_agent.knowledge.index import EmbedderMismatch, check_index

    embedder = embedder_from(settings)

    async def check() -> None:
        engine = create_engine(settings.database.sqlalchemy_url(), pool_size=1, connect_timeout=5)
        try:
            async with create_sessionmaker(engine)() as session:
                await check_index(session, embedder.name, embedder.dimension)
        finally:
            await engine.dispose()
            await embedder.aclose()

    try:
        asyncio.run(check())
    except EmbedderMismatch as exc:
        raise _fail(str(exc)) from None


def _serve(settings: Settings, host: str | None, port: int | None, *, check_embedder: bool = True) -> None:
    from purpose_agent.app import create_app
    from purpose_agent.asgi import FACTORY

    if check_embedder:
        _check_embedder(settings)
    _raise_open_files_limit()
    options: dict[str, Any] = {
        "host": host or settings.server.host,
        "port": port or settings.server.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        # Client addresses from X-Forwarded-For are trusted only from configured proxies (security issue).
        "proxy_headers": False,
    }
    # uvicorn re-raises Ctrl-C after its graceful shutdown; by then all is closed.
    with contextlib.suppress(KeyboardInterrupt):
        if settings.server.api_workers > 1:
            # Each worker process builds its own app (pool, embedder, caches) from the environment.
            uvicorn.run(FACTORY, factory=True, workers=settings.server.api_workers, **options)
        else:
            uvicorn.Server(uvicorn.Config(create_app(settings), **options)).run()


def _raise_open_files_limit() -> None:
    """Allow as many open files as the system lets this process have: each stream holds a client's
    connection and a provider's, and the usual soft limit of 1,024 stops a busy server at 500 streams."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def migrate() -> None:
    """Apply the database migrations (DATABASE_URL, or the embedded database)."""
    settings = _settings()
    _migrate(settings)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default: PORT).")] = None,
) -> None:
    """Serve the HTTP API in the foreground."""
    _serve(_settings(), host, port)


@app.command("mcp")
def mcp_stdio() -> None:
    """Serve the MCP tools on stdin/stdout for a desktop client, as the key in MCP_API_KEY."""
    from purpose_agent.app import create_app, rate_limit_policy
    from purpose_agent.kit.problems import ProblemError
    from purpose_agent.mcp.stdio import serve_stdio

    # stdout carries the protocol: logs go to stderr, where desktop clients keep them.
    settings = _settings(log_stream=sys.stderr)
    if settings.mcp.api_key is None:
        raise _fail("MCP_API_KEY is not set: give it an API key (`purpose-agent keys create`)")
    _check_embedder(settings)
    secret = settings.mcp.api_key.get_secret_value()
    try:
        asyncio.run(serve_stdio(create_app(settings), secret, rate_limit_policy(settings)))
    except ProblemError as exc:
        raise _fail(exc.detail) from None


@app.command()
def up() -> None:
    """Start the embedded database if used, migrate, queue the sample knowledge, run the worker and the API.

    Ctrl-C stops everything it started."""
    settings = _settings()
    database = _embedded(settings) if settings.database.uses_embedded else None
    started_database = False
    if database is not None:
        started_database = not database.status().running
        try:
            database.start(databases=(settings.database.embedded_name,))
        except EmbeddedDatabaseError as exc:
            raise _fail(str(exc)) from None
    worker: subprocess.Popen[bytes] | None = None
    try:
        _migrate(settings)
        _check_embedder(settings)
        _first_admin_key(settings)
        _seed_personas(settings)
        _seed_knowledge(settings)
        # The worker runs beside the API, as in production, and stops with it.
        worker = subprocess.Popen([sys.executable, "-m", "purpose_agent", "worker"])
        base = f"http://{settings.server.host}:{settings.server.port}"
        typer.echo(f"Purpose-Agent {__version__} is starting at {base}")
        typer.echo(f"  API docs:  {base}/api/docs")
        typer.echo(f"  health:    {base}/health  and  {base}/health/ready")
        typer.echo(f"  worker:    pid {worker.pid}")
        typer.echo("  stop with Ctrl-C")
        _serve(settings, None, None, check_embedder=False)
    finally:
        if worker is not None:
            _stop_child(worker)
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
    from purpose_agent.auth.models import Role

    async def ensure() -> str | None:
        async with _database_session(settings) as session:
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
    results = _import_personas(settings, path)
    counts = ", ".join(
        f"{count} {outcome}"
        for outcome in ("created", "updated", "unchanged")
        if (count := sum(1 for _, result in results if result == outcome))
    )
    typer.echo(f"personas: {len(results)} from {path} ({counts or 'none'})")


def _import_personas(settings: Settings, path: Path) -> list[tuple[str, str]]:
    """Validate the whole file, then upsert it in one transaction: an invalid file changes nothing."""
    from sqlalchemy.exc import OperationalError

    from purpose_agent.personas.config_file import PersonaFileInvalid, import_personas, read_file

    try:
        personas = read_file(path)
    except PersonaFileInvalid as exc:
        for line in exc.errors:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(code=2) from None

    async def upsert() -> list[tuple[str, str]]:
        async with _database_session(settings) as session:
            return [
                (persona_id, str(outcome)) for persona_id, outcome in await import_personas(session, personas)
            ]

    try:
        return asyncio.run(upsert())
    except OperationalError:
        raise _fail("cannot reach the database; is it started and migrated?") from None


@personas_app.command("import")
def personas_import(
    file: Annotated[Path, typer.Argument(help='A file {"personas": [...]}: JSON, or YAML when .yaml/.yml.')],
) -> None:
    """Create or update the file's personas (others are left alone); an invalid file changes nothing."""
    for persona_id, outcome in _import_personas(_settings(), file):
        typer.echo(f"{outcome:<9} {persona_id}")


@personas_app.command("export")
def personas_export(
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write every persona as a JSON personas file that `personas import` reads back unchanged."""
    from sqlalchemy.exc import OperationalError

    from purpose_agent.personas.config_file import YAML_SUFFIXES, export_personas

    settings = _settings()
    if output is not None and output.suffix.lower() in YAML_SUFFIXES:
        raise _fail(f"{output}: export writes JSON; name the file .json")

    async def export() -> str:
        async with _database_session(settings) as session:
            return await export_personas(session)

    try:
        text = asyncio.run(export())
    except OperationalError:
        raise _fail("cannot reach the database; is it started and migrated?") from None
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@contextlib.asynccontextmanager
async def _database_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One session in one transaction, committed at the end, on an engine of its own."""
    from purpose_agent.db.engine import create_engine, create_sessionmaker

    engine = create_engine(settings.database.sqlalchemy_url(), pool_size=1, connect_timeout=5)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="user or admin.")] = "user",
    name: Annotated[str, typer.Option(help="What the key is for, shown in lists.")] = "api key",
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Refuse the key after this.")] = None,
) -> None:
    """Create an API key and print it; it is stored only as a digest and never shown again."""
    from datetime import UTC, datetime, timedelta

    from purpose_agent.auth.keys import create_key
    from purpose_agent.auth.models import Role

    settings = _settings()
    if role not in {member.value for member in Role}:
        raise _fail(f"unknown role {role!r} (known: user, admin)")
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None

    async def create() -> str:
        async with _database_session(settings) as session:
            issued = await create_key(
                session, name=name, role=Role(role), created_by="cli", expires_at=expires
            )
            return issued.secret

    typer.echo(asyncio.run(create()))


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Letters, digits, '.', '_' or '-'; 3 to 64.")],
    admin: Annotated[bool, typer.Option("--admin", help="Give the user the admin role.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user; the password is asked twice (or read from stdin), never taken as an argument."""
    import sys

    from purpose_agent.auth.models import Role
    from purpose_agent.auth.users import create_user
    from purpose_agent.kit.problems import ProblemError

    settings = _settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)

    async def create() -> None:
        async with _database_session(settings) as session:
            await create_user(
                session, username=username, password=password, role=Role.admin if admin else Role.user
            )

    try:
        asyncio.run(create())
    except ProblemError as exc:
        raise _fail(exc.detail) from None
    typer.echo(f"created {'admin' if admin else 'user'} {username.strip().lower()}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id or its visible prefix.")]) -> None:
    """Revoke a key: it is refused from its next request on."""
    from datetime import UTC, datetime

    from purpose_agent.auth.keys import revoke_key

    settings = _settings()

    async def revoke() -> bool:
        async with _database_session(settings) as session:
            return await revoke_key(session, key, datetime.now(UTC)) is not None

    if not asyncio.run(revoke()):
        raise _fail(f"no live key has the id or prefix {key!r}")
    typer.echo(f"revoked {key}")


def _stop_child(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a Ctrl-C in the terminal has already sent SIGINT), then SIGKILL if it hangs."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@app.command()
def reindex() -> None:
    """Re-embed every document with the configured embedder (after changing EMBEDDER)."""
    from purpose_agent.composition import embedder_from
    from purpose_agent.db.engine import create_engine, create_sessionmaker
    from purpose_agent.knowledge.chunking import ChunkingPolicy
    from purpose_agent.knowledge.reindex import reindex_all

    settings = _settings()
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


@app.command()
def worker() -> None:
    """Run the background worker (document ingestion, stalled-job checks) until Ctrl-C or SIGTERM."""
    from purpose_agent.processes import worker_process

    settings = _settings()
    _check_embedder(settings)
    typer.echo("worker running; stop with Ctrl-C (running jobs finish first)")
    asyncio.run(worker_process(settings))


@app.command()
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

    settings = _settings()
    if not path.is_dir():
        raise _fail(f"{path} is not a folder")
    _check_embedder(settings)

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


@db_app.command("start")
def db_start() -> None:
    """Start the embedded database (creating it on first use) and create the application database."""
    settings = _settings()
    if not settings.database.uses_embedded:
        raise _fail("DATABASE_URL is set: the embedded database is not used")
    try:
        status = _embedded(settings).start(databases=(settings.database.embedded_name,))
    except EmbeddedDatabaseError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"embedded database running: pid {status.pid}, 127.0.0.1:{status.port}, {status.data_dir}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded database."""
    settings = _settings()
    stopped = _embedded(settings).stop()
    typer.echo("embedded database stopped" if stopped else "embedded database was not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded database runs; exit 1 when it does not."""
    settings = _settings()
    status = _embedded(settings).status()
    if not status.running:
        typer.echo(f"embedded database is not running ({status.data_dir})")
        raise typer.Exit(code=1)
    typer.echo(f"embedded database running: pid {status.pid}, 127.0.0.1:{status.port}, {status.data_dir}")
