"""Test infrastructure: one real PostgreSQL (with pgvector) and one real Redis for the whole run.

An embedded server in `.data/test-postgres` is started once (unless TEST_DATABASE_URL names another
server), a fresh `purpose_agent_test` database is migrated once, and every test runs inside a
transaction that is rolled back at its end.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from purpose_agent import __version__
from purpose_agent.app import create_app
from purpose_agent.auth.keys import create_key
from purpose_agent.auth.principal import Role
from purpose_agent.db.embedded import EmbeddedPostgres
from purpose_agent.db.engine import create_engine
from purpose_agent.db.migrate import upgrade
from purpose_agent.kit.logging import configure_logging
from purpose_agent.kit.redaction import Redactor
from purpose_agent.settings import ProviderSettings, Settings
from tests.app_context import swap_context
from tests.ports import free_port

# The fake OpenAI and Anthropic servers, and a private redis-server, for every test that names them.
pytest_plugins = ["tests.llm.fakes", "tests.faulty_servers"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Tests that run the product as a whole: containers built from the Dockerfile, a browser, a real
# Prometheus, `purpose-agent` in processes of its own under faults. `make test-system` runs them and
# `make test` the rest, each within its time budget; .ci/run runs both.
SYSTEM_TESTS = (
    "tests/deploy/test_containers.py",
    "tests/console/test_console.py",
    "tests/test_prometheus.py",
    "tests/test_telemetry_processes.py",
    "tests/reliability/test_up_faults.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(PROJECT_ROOT).as_posix() in SYSTEM_TESTS:
            item.add_marker(pytest.mark.system)


TEST_DATABASE = "purpose_agent_test"
RUN_ID = uuid.uuid4().hex


def _as_sqlalchemy_url(url: str) -> str:
    return Settings(database_url=url, _env_file=None).database.sqlalchemy_url()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated, empty test database; the embedded server is stopped afterwards if we started it."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        url = _as_sqlalchemy_url(external)
        upgrade(url)
        yield url
        return

    # A server of its own, apart from the one `make run` uses, on a port nobody else holds.
    data_dir = PROJECT_ROOT / ".data" / "test-postgres"
    left_running = EmbeddedPostgres(data_dir, 0).status()
    server = EmbeddedPostgres(
        data_dir, left_running.port if left_running.running and left_running.port else free_port()
    )
    was_running = server.status().running
    server.start()
    server.drop_database(TEST_DATABASE)
    server.create_database(TEST_DATABASE)
    url = _as_sqlalchemy_url(server.url(TEST_DATABASE))
    upgrade(url)
    yield url
    if not was_running:
        server.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis the tests share (`make test` makes sure one answers)."""
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    """Settings as a test deployment would have them, ignoring any `.env` in the working tree."""
    return Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=redis_url,
        database_connect_timeout_seconds=2,
        # Limits counted apart from every other run sharing this Redis.
        rate_limit_key_prefix=f"test:{RUN_ID}:rate-limit",
        readiness_timeout_seconds=2,
        # Providers named explicitly, so that a developer's OPENAI_API_KEY never reaches a test.
        llm_chain="openai,local",
        llm_providers={
            "openai": ProviderSettings(_env_file=None, api_key=None),
            "local": ProviderSettings(_env_file=None),
        },
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5, connect_timeout=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back when the test ends."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
def test_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits become savepoints of the test's transaction."""
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def session(test_sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with test_sessionmaker() as session:
        yield session


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test run uses, so tests never need to flush a shared Redis."""
    return f"test:{uuid.uuid4().hex}:"


class LogCapture:
    """The JSON lines our logging wrote during a test, parsed."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def logs() -> LogCapture:
    """Route the process's logs, through the real formatter and redactor, into a buffer."""
    stream = io.StringIO()
    configure_logging(
        level="INFO",
        service="purpose-agent",
        version=__version__,
        redactor=Redactor(redact_ip_addresses=True),
        stream=stream,
    )
    return LogCapture(stream)


@pytest.fixture
async def app(
    settings: Settings,
    engine: AsyncEngine,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    logs: LogCapture,
) -> AsyncIterator[FastAPI]:
    """The real application, running its lifespan, with request sessions inside the test transaction."""
    application = create_app(settings, engine=engine)
    async with LifespanManager(application):
        swap_context(application, sessionmaker=test_sessionmaker)
        yield application


def api_client(app: FastAPI, key: str | None = None) -> AsyncClient:
    """A client of the app, sending `key` as X-API-Key when given."""
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"X-API-Key": key} if key else {}
    return AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


@pytest.fixture
async def admin_key(session: AsyncSession) -> str:
    """An admin API key, in the test's transaction."""
    return (await create_key(session, name="test admin", role=Role.admin)).secret


@pytest.fixture
async def user_key(session: AsyncSession) -> str:
    return (await create_key(session, name="test user", role=Role.user)).secret


@pytest.fixture
async def client(app: FastAPI, admin_key: str) -> AsyncIterator[AsyncClient]:
    """The app as an admin calls it."""
    async with api_client(app, admin_key) as client:
        yield client


@pytest.fixture
async def user_client(app: FastAPI, user_key: str) -> AsyncIterator[AsyncClient]:
    """The app as a principal with the user role calls it."""
    async with api_client(app, user_key) as client:
        yield client


@pytest.fixture
async def anonymous_client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """The app called with no credentials."""
    async with api_client(app) as client:
        yield client


Start = Callable[..., AbstractAsyncContextManager[FastAPI]]


@pytest.fixture
def start(
    settings: Settings,
    engine: AsyncEngine,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    redis_prefix: str,
    logs: LogCapture,
) -> Start:
    """Run the real app with these settings changed; its rate limits under this test's own key prefix."""

    @asynccontextmanager
    async def running(**updates: Any) -> AsyncIterator[FastAPI]:
        configured = settings.changed(rate_limit_key_prefix=redis_prefix, **updates)
        app = create_app(configured, engine=engine)
        async with LifespanManager(app):
            swap_context(app, sessionmaker=test_sessionmaker)
            yield app

    return running


def client_of(app: FastAPI, address: str = "203.0.113.7", key: str | None = None) -> AsyncClient:
    """A client of the app whose socket peer is `address`."""
    transport = ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40_000))
    headers = {"X-API-Key": key} if key else {}
    return AsyncClient(transport=transport, base_url="http://testserver", headers=headers)
