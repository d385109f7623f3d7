"""Alembic environment: runs migrations on one synchronous psycopg connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

# Every table module, so that `Base.metadata` knows them all for Alembic's comparisons.
import purpose_agent.audit.models
import purpose_agent.auth.models
import purpose_agent.chat.models
import purpose_agent.knowledge.models
import purpose_agent.llm.models
import purpose_agent.personas.models  # noqa: F401
from purpose_agent.db.base import Base
from purpose_agent.knowledge.index import HNSW_INDEX

config = context.config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Objects our models do not describe: procrastinate's tables belong to its schema script
    (migration 0004), and the HNSW index is built for the recorded embedder (knowledge/index.py)."""
    if type_ == "table" and name is not None and name.startswith("procrastinate_"):
        return False
    return not (type_ == "index" and name == HNSW_INDEX)


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
