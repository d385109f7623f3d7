"""Migrations applied to a database holding data, and undone, on a scratch database of the test server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

from purpose_agent.db.engine import create_engine
from purpose_agent.db.migrate import alembic_config, upgrade
from purpose_agent.knowledge.search import SearchMode, search_chunks
from tests.knowledge.keyword_oracle import recounted, stored

CHUNKS = [
    # (document, category, heading, text)
    ("kettle.md", "manuals", "Kettle > Cleaning", "Descale the kettle monthly with white vinegar."),
    ("kettle.md", "manuals", "Kettle > Warranty", "The heating element is covered for five years."),
    ("faq.md", "support", "Errors", "A 413 error means the document is too large."),
]


@pytest.fixture
def scratch_url(database_url: str) -> Iterator[str]:
    """A new, empty database on the test server; dropped afterwards."""
    url = make_url(database_url)
    name = f"purpose_agent_migration_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def store_chunks(conn: AsyncConnection) -> None:
    """The rows of CHUNKS as the schema of 0008 holds them (no ORM: the models are the newest schema)."""
    await conn.execute(
        text("INSERT INTO categories (name, description) VALUES ('manuals', ''), ('support', '')")
    )
    documents: dict[str, uuid.UUID] = {}
    for index, (source, category, heading, body) in enumerate(CHUNKS):
        if source not in documents:
            documents[source] = uuid.uuid4()
            await conn.execute(
                text(
                    "INSERT INTO documents (id, category, source_name, sha256, mime, size_bytes, status,"
                    " attempts, chunk_count, progress_pages, progress_chunks, origin, progress_chunks_total)"
                    " VALUES (:id, :category, :source, '', 'text/markdown', 1, 'ready',"
                    " 1, 1, 0, 0, 'upload', 0)"
                ),
                {"id": documents[source], "category": category, "source": source},
            )
        await conn.execute(
            text(
                "INSERT INTO chunks (document_id, category, chunk_index, text, page, heading_path, heading,"
                " char_start, char_end, token_count, embedding)"
                " VALUES (:document, :category, :index, :body, NULL, string_to_array(:heading, ' > '),"
                " :heading, 0, 1, 10, '[1,0,0]')"
            ),
            {
                "document": documents[source],
                "category": category,
                "index": index,
                "body": body,
                "heading": heading,
            },
        )


async def test_0009_indexes_the_chunks_already_stored_and_downgrades_to_the_plain_full_text(
    scratch_url: str,
) -> None:
    upgrade(scratch_url, "0008")
    engine = create_engine(scratch_url, pool_size=1, connect_timeout=5)
    try:
        async with engine.begin() as conn:
            await store_chunks(conn)

        upgrade(scratch_url)
        async with engine.connect() as conn:
            index = await stored(conn)
            assert index == await recounted(conn)
            assert {category: chunks for category, (chunks, _) in index.stats.items()} == {
                "manuals": 2,
                "support": 1,
            }
            assert index.counts["kettl", "manuals"] == 2
        async with async_sessionmaker(engine)() as session:
            hits = await search_chunks(
                session,
                query="How long is the warranty on the heating element?",
                embedding=None,
                dimension=3,
                top_k=3,
                mode=SearchMode.keyword,
            )
            assert hits[0].heading_path == ("Kettle", "Warranty")
            # Changed after the upgrade: the triggers follow (rolled back when the session closes).
            await session.execute(text("DELETE FROM chunks WHERE category = 'support'"))
            assert "support" not in (await stored(session)).stats

        command.downgrade(alembic_config(scratch_url), "0008")
        async with engine.connect() as conn:
            for table in ("chunk_terms", "chunk_term_counts", "chunk_term_stats"):
                assert await conn.scalar(text(f"SELECT to_regclass('{table}')")) is None
            assert await conn.scalar(text("SELECT to_regclass('ix_chunks_tsv')")) == "ix_chunks_tsv"
            assert (
                await conn.scalar(text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'chunk_terms%'"))
                == 0
            )
            plain = await conn.scalar(
                text(
                    "SELECT bool_and(tsv = to_tsvector('english', heading || ' ' || text)) AND count(*) = 3"
                    " FROM chunks"
                )
            )
            assert plain is True

        upgrade(scratch_url)
        async with engine.connect() as conn:
            assert await stored(conn) == await recounted(conn)
    finally:
        await engine.dispose()


async def test_0010_leaves_existing_keys_and_users_unrestricted_and_downgrades(scratch_url: str) -> None:
    upgrade(scratch_url, "0009")
    engine = create_engine(scratch_url, pool_size=1, connect_timeout=5)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO api_keys (id, name, role, prefix, digest)"
                    " VALUES (gen_random_uuid(), 'old', 'user', 'pa_old', repeat('0', 64))"
                )
            )
        upgrade(scratch_url)
        async with engine.connect() as conn:
            limits = await conn.execute(
                text(
                    "SELECT agents, operations, requests_per_day, tokens_per_day, cost_per_month_usd"
                    " FROM api_keys"
                )
            )
            assert list(limits) == [(None, None, None, None, None)], "unrestricted, without quotas"
            assert await conn.scalar(text("SELECT count(*) FROM api_key_usage")) == 0

        command.downgrade(alembic_config(scratch_url), "0009")
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT to_regclass('api_key_usage')")) is None
            columns = await conn.scalars(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")
            )
            assert "agents" not in set(columns)
            assert await conn.scalar(text("SELECT name FROM api_keys")) == "old"
    finally:
        await engine.dispose()
