"""The job queue: procrastinate's schema; a document's planned chunk count and where it came from.

procrastinate keeps its jobs in PostgreSQL beside our data, so a job deferred in a request's
transaction exists exactly when the request's writes do. Its schema is applied from the installed
package, which is pinned to one minor version in pyproject.toml: upgrading procrastinate means a new
migration that runs the package's own migration scripts between the two versions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Sent to the driver as is: SQLAlchemy's text() would read ":name" in the functions as parameters.
    op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
    op.add_column(
        "documents", sa.Column("progress_chunks_total", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "documents", sa.Column("origin", sa.String(length=16), server_default="upload", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("documents", "origin")
    op.drop_column("documents", "progress_chunks_total")
    op.execute(
        """
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT tablename FROM pg_tables
                        WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%' LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
            END LOOP;
            FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                        JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%' LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
            END LOOP;
            FOR item IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                        WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
                          AND t.typtype IN ('e', 'c') LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
            END LOOP;
        END $$;
        """
    )
