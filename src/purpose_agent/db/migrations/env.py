"""Alembic environment: runs migrations on one synchronous psycopg connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from purpose_agent.db.base import Base
from purpose_agent.db.models import import_all_models
from purpose_agent.knowledge.index import HNSW_INDEX

config = context.config
import_all_models()


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
