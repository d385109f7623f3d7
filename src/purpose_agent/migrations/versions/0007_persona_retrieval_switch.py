"""Personas may turn retrieval off: a `retrieval` flag, and no category needed without it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("personas", sa.Column("retrieval", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.alter_column("personas", "knowledge_category", existing_type=sa.String(length=63), nullable=True)
    op.create_check_constraint(
        op.f("ck_personas_retrieval_needs_category"),
        "personas",
        "NOT retrieval OR knowledge_category IS NOT NULL",
    )


def downgrade() -> None:
    op.execute("DELETE FROM personas WHERE knowledge_category IS NULL")
    op.drop_constraint(op.f("ck_personas_retrieval_needs_category"), "personas", type_="check")
    op.alter_column("personas", "knowledge_category", existing_type=sa.String(length=63), nullable=False)
    op.drop_column("personas", "retrieval")
