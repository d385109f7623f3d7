"""A BM25 keyword index kept by triggers: postings, document frequencies and lengths per category.

The chunk's full-text vector weights its heading (A) apart from its text (D), so that a posting
knows where its term was found. `chunk_terms` holds one row per term and chunk, `chunk_term_counts`
each term's document frequency per category, `chunk_term_stats` each category's chunk count and
summed length. Statement-level triggers on `chunks` keep all three exact in the writer's own
transaction, from the rows the statement changed (transition tables), for INSERT (COPY included),
UPDATE, DELETE and TRUNCATE. Each first locks the stats rows of the categories it touches, in name
order, then writes the counts in key order: concurrent writers of one category take turns and cannot
deadlock. The GIN index on the vector goes: no query reads it any more.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WEIGHTED_TSV = (
    "setweight(to_tsvector('english'::regconfig, heading), 'A') || to_tsvector('english'::regconfig, text)"
)
PLAIN_TSV = "to_tsvector('english'::regconfig, heading || ' ' || text)"

# A chunk's length: how many term positions its vector holds (stop words are not terms).
LENGTH = "(SELECT coalesce(sum(cardinality(term.positions)), 0) FROM unnest({rows}.tsv) AS term)"
# The statement's changed rows, as (id, category, tsv), for each kind of trigger.
NO_ROWS = "(SELECT NULL::bigint AS id, NULL::varchar AS category, NULL::tsvector AS tsv WHERE false)"
CHANGED = (
    "(SELECT {this}.id, {this}.category, {this}.tsv"
    " FROM {this} LEFT JOIN {other} ON {other}.id = {this}.id"
    " WHERE {other}.id IS NULL"
    " OR ({other}.category, {other}.tsv) IS DISTINCT FROM ({this}.category, {this}.tsv))"
)
TRIGGERS = {
    # event: (rows whose terms leave, rows whose terms arrive, transition tables)
    "INSERT": (NO_ROWS, "new_rows", "NEW TABLE AS new_rows"),
    "UPDATE": (
        CHANGED.format(this="old_rows", other="new_rows"),
        CHANGED.format(this="new_rows", other="old_rows"),
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    "DELETE": ("old_rows", NO_ROWS, "OLD TABLE AS old_rows"),
}


def sync(removed: str, added: str, *, cascaded: bool) -> str:
    """Statements that move the index from the `removed` chunks' terms to the `added` ones'.

    `cascaded`: the removed chunks are gone, and their postings with them (the foreign key)."""
    # Counts move by upserting each key's change. No CHECK (chunks >= 0) guards them: PostgreSQL checks
    # the row an INSERT proposes before it finds the conflict, and a change may be negative.
    statements = [
        # First, and in name order: the lock that makes writers of a category take turns.
        f"""
        INSERT INTO chunk_term_stats AS stats (category, chunks, total_length)
        SELECT category, sum(sign), sum(sign * length) FROM (
            SELECT removed.category, -1 AS sign, {LENGTH.format(rows="removed")} AS length
            FROM {removed} AS removed
            UNION ALL
            SELECT added.category, 1, {LENGTH.format(rows="added")} FROM {added} AS added
        ) AS changes
        GROUP BY category
        ORDER BY category
        ON CONFLICT (category) DO UPDATE
        SET chunks = stats.chunks + excluded.chunks, total_length = stats.total_length + excluded.total_length
        """,
        f"""
        INSERT INTO chunk_term_counts AS counts (lexeme, category, chunks)
        SELECT lexeme, category, sum(sign) FROM (
            SELECT unnest(tsvector_to_array(removed.tsv)) AS lexeme, removed.category, -1 AS sign
            FROM {removed} AS removed
            UNION ALL
            SELECT unnest(tsvector_to_array(added.tsv)), added.category, 1 FROM {added} AS added
        ) AS changes
        GROUP BY lexeme, category
        HAVING sum(sign) <> 0
        ORDER BY lexeme, category
        ON CONFLICT (lexeme, category) DO UPDATE SET chunks = counts.chunks + excluded.chunks
        """,
        f"""
        DELETE FROM chunk_term_counts AS counts
        USING (SELECT DISTINCT unnest(tsvector_to_array(removed.tsv)) AS lexeme, removed.category
               FROM {removed} AS removed) AS gone
        WHERE counts.lexeme = gone.lexeme AND counts.category = gone.category AND counts.chunks = 0
        """,
        f"""
        DELETE FROM chunk_term_stats
        WHERE chunks = 0 AND category IN (SELECT removed.category FROM {removed} AS removed)
        """,
        f"""
        INSERT INTO chunk_terms (lexeme, category, chunk_id, tf_text, tf_heading, doc_length)
        SELECT term.lexeme, added.category, added.id,
               cardinality(term.weights) - cardinality(array_positions(term.weights, 'A')),
               cardinality(array_positions(term.weights, 'A')),
               size.length
        FROM {added} AS added
        CROSS JOIN LATERAL (SELECT {LENGTH.format(rows="added")} AS length) AS size
        CROSS JOIN LATERAL unnest(added.tsv) AS term
        ORDER BY term.lexeme, added.category, added.id
        """,
    ]
    if not cascaded:
        statements.insert(
            -1, f"DELETE FROM chunk_terms WHERE chunk_id IN (SELECT removed.id FROM {removed} AS removed)"
        )
    return ";\n".join(statement.strip() for statement in statements) + ";"


def upgrade() -> None:
    op.drop_index("ix_chunks_tsv", table_name="chunks", postgresql_using="gin")
    op.drop_column("chunks", "tsv")
    op.add_column(
        "chunks",
        sa.Column("tsv", postgresql.TSVECTOR(), sa.Computed(WEIGHTED_TSV, persisted=True), nullable=False),
    )
    op.create_table(
        "chunk_terms",
        sa.Column("lexeme", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=63), nullable=False),
        sa.Column("chunk_id", sa.BigInteger(), nullable=False),
        sa.Column("tf_text", sa.SmallInteger(), nullable=False),
        sa.Column("tf_heading", sa.SmallInteger(), nullable=False),
        sa.Column("doc_length", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chunk_id"], ["chunks.id"], name=op.f("fk_chunk_terms_chunk_id_chunks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "lexeme",
            "category",
            "chunk_id",
            name="pk_chunk_terms",
            postgresql_include=["tf_text", "tf_heading", "doc_length"],
        ),
    )
    op.create_index(op.f("ix_chunk_terms_chunk_id"), "chunk_terms", ["chunk_id"], unique=False)
    op.create_table(
        "chunk_term_counts",
        sa.Column("lexeme", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=63), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lexeme", "category", name=op.f("pk_chunk_term_counts")),
    )
    op.create_table(
        "chunk_term_stats",
        sa.Column("category", sa.String(length=63), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("total_length", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("category", name=op.f("pk_chunk_term_stats")),
    )
    # The chunks already stored, as if each had just been inserted.
    op.execute("LOCK TABLE chunks IN SHARE MODE")
    op.execute(sync(NO_ROWS, "chunks", cascaded=True))
    for event, (removed, added, transition) in TRIGGERS.items():
        name = f"chunk_terms_on_{event.lower()}"
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
            f"{sync(removed, added, cascaded=event == 'DELETE')}\nRETURN NULL;\nEND\n$$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON chunks REFERENCING {transition}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    op.execute(
        "CREATE FUNCTION chunk_terms_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        "TRUNCATE chunk_term_counts, chunk_term_stats;\nRETURN NULL;\nEND\n$$"
    )
    op.execute(
        "CREATE TRIGGER chunk_terms_on_truncate AFTER TRUNCATE ON chunks"
        " FOR EACH STATEMENT EXECUTE FUNCTION chunk_terms_on_truncate()"
    )


def downgrade() -> None:
    for event in [*TRIGGERS, "TRUNCATE"]:
        name = f"chunk_terms_on_{event.lower()}"
        op.execute(f"DROP TRIGGER {name} ON chunks")
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("chunk_term_stats")
    op.drop_table("chunk_term_counts")
    op.drop_index(op.f("ix_chunk_terms_chunk_id"), table_name="chunk_terms")
    op.drop_table("chunk_terms")
    op.drop_column("chunks", "tsv")
    op.add_column(
        "chunks",
        sa.Column("tsv", postgresql.TSVECTOR(), sa.Computed(PLAIN_TSV, persisted=True), nullable=False),
    )
    op.create_index("ix_chunks_tsv", "chunks", ["tsv"], unique=False, postgresql_using="gin")
