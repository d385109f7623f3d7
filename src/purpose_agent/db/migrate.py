"""Apply the Alembic migrations shipped inside the package, from code or from the command line."""

from __future__ import annotations

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for `database_url` that needs no alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", "purpose_agent:migrations")
    # ConfigParser interpolation would read a '%' in a password as a reference.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema of `database_url` up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)
