"""Least privilege for keys and users: the agents and operations each may use, quotas per key, and
each key's usage per day.

Every new column is NULL for existing keys and users: unrestricted, without quotas, as before.

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPED_TABLES = ("api_keys", "users")


def upgrade() -> None:
    for table in SCOPED_TABLES:
        op.add_column(table, sa.Column("agents", postgresql.ARRAY(sa.String(length=63)), nullable=True))
        op.add_column(table, sa.Column("operations", postgresql.ARRAY(sa.String(length=16)), nullable=True))
    op.add_column("api_keys", sa.Column("requests_per_day", sa.Integer(), nullable=True))
    op.add_column("api_keys", sa.Column("tokens_per_day", sa.BigInteger(), nullable=True))
    op.add_column("api_keys", sa.Column("cost_per_month_usd", sa.Float(), nullable=True))
    op.create_table(
        "api_key_usage",
        sa.Column("key_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "day", name=op.f("pk_api_key_usage")),
    )


def downgrade() -> None:
    op.drop_table("api_key_usage")
    for column in ("cost_per_month_usd", "tokens_per_day", "requests_per_day"):
        op.drop_column("api_keys", column)
    for table in SCOPED_TABLES:
        op.drop_column(table, "operations")
        op.drop_column(table, "agents")
