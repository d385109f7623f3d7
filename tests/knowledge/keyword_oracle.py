"""The keyword index as it should be, recounted from the chunks by PostgreSQL's own `ts_stat`.

The triggers maintain `chunk_terms`, `chunk_term_counts` and `chunk_term_stats` a statement at a
time; this recounts them from scratch another way (ts_stat counts the documents holding each word and
its occurrences, optionally of one weight only), so a test can compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Postings = dict[tuple[str, str, int], tuple[int, int, int]]


@dataclass(frozen=True, slots=True)
class KeywordIndex:
    postings: Postings  # (lexeme, category, chunk id) -> (tf in the text, tf in the heading, chunk length)
    counts: dict[tuple[str, str], int]  # (lexeme, category) -> chunks holding it
    stats: dict[str, tuple[int, int]]  # category -> (chunks, summed length)


async def stored(db: AsyncSession | AsyncConnection) -> KeywordIndex:
    """What the triggers wrote."""
    postings = {
        (row.lexeme, row.category, row.chunk_id): (row.tf_text, row.tf_heading, row.doc_length)
        for row in await db.execute(text("SELECT * FROM chunk_terms"))
    }
    counts = {
        (row.lexeme, row.category): row.chunks
        for row in await db.execute(text("SELECT * FROM chunk_term_counts"))
    }
    stats = {
        row.category: (row.chunks, row.total_length)
        for row in await db.execute(text("SELECT * FROM chunk_term_stats"))
    }
    return KeywordIndex(postings, counts, stats)


async def recounted(db: AsyncSession | AsyncConnection) -> KeywordIndex:
    """What they should have written, counted from the chunks as they are now."""
    chunks = (await db.execute(text("SELECT id, category FROM chunks ORDER BY id"))).all()
    postings: Postings = {}
    for chunk_id, category in chunks:
        query = f"SELECT tsv FROM chunks WHERE id = {int(chunk_id)}"
        every = await _stat(db, query, None)
        heading = await _stat(db, query, "a")
        length = sum(entries for _, entries in every.values())
        for lexeme, (_, entries) in every.items():
            in_heading = heading.get(lexeme, (0, 0))[1]
            postings[lexeme, category, chunk_id] = (entries - in_heading, in_heading, length)
    counts: dict[tuple[str, str], int] = {}
    stats: dict[str, tuple[int, int]] = {}
    for category in sorted({category for _, category in chunks}):
        escaped = category.replace("'", "''")
        words = await _stat(db, f"SELECT tsv FROM chunks WHERE category = '{escaped}'", None)
        counts.update({(lexeme, category): documents for lexeme, (documents, _) in words.items()})
        size = sum(1 for _, other in chunks if other == category)
        stats[category] = (size, sum(entries for _, entries in words.values()))
    return KeywordIndex(postings, counts, stats)


async def _stat(
    db: AsyncSession | AsyncConnection, query: str, weights: str | None
) -> dict[str, tuple[int, int]]:
    """ts_stat of `query`: each word, the documents holding it and its occurrences (of `weights`)."""
    if weights is None:
        rows = await db.execute(text("SELECT word, ndoc, nentry FROM ts_stat(:query)"), {"query": query})
    else:
        rows = await db.execute(
            text("SELECT word, ndoc, nentry FROM ts_stat(:query, :weights)"),
            {"query": query, "weights": weights},
        )
    return {word: (documents, entries) for word, documents, entries in rows}
