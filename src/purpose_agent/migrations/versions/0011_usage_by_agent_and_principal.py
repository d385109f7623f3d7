"""Usage records name the agent asked and the principal (key or user) that asked, so that usage can be
reported per agent and per key.

Both are NULL in the rows written before: those requests are reported as of an unknown agent and key.

Revision ID: 0011
Revises: 0010
Create Date: 2027-01-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("llm_usage", sa.Column("agent_id", sa.String(length=63), nullable=True))
    op.add_column("llm_usage", sa.Column("principal", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("llm_usage", "principal")
    op.drop_column("llm_usage", "agent_id")
