"""Usage records say whether the answer was grounded in its passages, and how many sentences were not.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("llm_usage", sa.Column("grounded", sa.Boolean(), nullable=True))
    op.add_column("llm_usage", sa.Column("unsupported_sentences", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("llm_usage", "unsupported_sentences")
    op.drop_column("llm_usage", "grounded")
