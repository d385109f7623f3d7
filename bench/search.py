"""Search latency and HNSW recall: vector, keyword and hybrid search at 10,000 and 100,000 chunks.

Run by hand (never part of the test suite):

    .venv/bin/python bench/search.py [--data ../shared/data/scifact] [--sizes 10000,100000]
                                     [--queries 200] [--real-chunks N]

Real chunks: each SciFact abstract (`# title`, a blank line, the abstract) goes through the project's
parser and chunker (`parse`, then `chunk_blocks` with the default `ChunkingPolicy`, as ingestion does:
9,896 chunks) and is embedded with the default local embedder. Vectors are cached in
`.data/bench-search/`, keyed by the SHA-256 of the text, so only the first run embeds (on 2 cores,
minutes to a quarter of an hour). `--real-chunks N` keeps the first N chunks only, for a quick run.

Synthetic chunks fill each size beyond the real ones. They are NOT embeddings of their own text. Each
one takes a primary real chunk P (drawn uniformly) and two other real chunks drawn from P's 20 nearest
real neighbours by cosine. Its text is a run of consecutive sentences from each source, about half of
P's length from P and a quarter from each of the others, then sentences dropped from the longest run
while it exceeds the chunker's 256 tokens and a run has more than one, so full text search sees real
vocabulary and lengths. Its vector is the three real vectors weighted by each source's share of the
characters, plus Gaussian noise of expected norm 0.1, scaled to unit length. A synthetic document has
as many chunks as a randomly drawn real document and the title of its first primary. All draws are
seeded: every run builds the same rows.

Rows are bulk-copied (documents round-robin over ten categories) into a fresh database on an embedded
PostgreSQL in `.data/bench-search/postgres`, port 5440, started and stopped here unless it already
ran. Sizes grow by adding rows, so each smaller set is a subset of the larger; at each size the HNSW
index is built over all rows by the project's `reset_index` (which calls `ensure_index`), then
VACUUM ANALYZE (of the keyword index's tables too). Loading runs the triggers that keep the keyword
index (migration 0009), so "load s" includes building it; "keyword index MB" is its size.

Timed: `search_chunks`, top 10, each search in its own session and transaction as the API runs it,
query vectors computed beforehand, 20 warm-up searches first; p50, p95 and mean of each mode,
unfiltered and filtered to one category (rotating over the queries). psycopg prepares a statement
after five runs on a connection, and PostgreSQL may then run a generic plan made without the query's
values, so vector and hybrid are also timed with `plan_cache_mode = force_custom_plan`. For the first
20 searches of each row, PostgreSQL's statistics tell which plan ran (generic or custom) and how it
read the chunks table (which indexes, or a sequential scan).

Recall@10: vector mode against the exact cosine neighbours (computed with index scans off); a tie at
the tenth distance counts as a hit. "HNSW" forces the plan onto the index (custom plan, sequential and
bitmap scans and sorts disabled), keeping the settings `search_chunks` makes (hnsw.ef_search...): the
index's own recall. "As served" is search_chunks as it runs. Prints markdown tables and writes
bench/results/search.json.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import itertools
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from bench.vector_cache import VectorCache, embed_cached  # noqa: E402
from pgvector.psycopg import register_vector_async  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from purpose_agent.db.embedded import EmbeddedPostgres  # noqa: E402
from purpose_agent.db.engine import create_engine  # noqa: E402
from purpose_agent.db.migrate import upgrade  # noqa: E402
from purpose_agent.knowledge.chunking import Chunk, ChunkingPolicy, chunk_blocks  # noqa: E402
from purpose_agent.knowledge.chunking_text import sentence_spans  # noqa: E402
from purpose_agent.knowledge.detection import MARKDOWN  # noqa: E402
from purpose_agent.knowledge.embeddings.local import DIMENSION, LocalEmbedder  # noqa: E402
from purpose_agent.knowledge.index import HNSW_EF_CONSTRUCTION, HNSW_INDEX, HNSW_M, reset_index  # noqa: E402
from purpose_agent.knowledge.ingestion import HEADING_SEPARATOR  # noqa: E402
from purpose_agent.knowledge.parsing import ParseError, parse  # noqa: E402
from purpose_agent.knowledge.search import SearchMode, search_chunks  # noqa: E402

PORT = 5440
DATA_DIR = ROOT / ".data" / "bench-search"
DATABASE = "bench_search"
CATEGORIES = tuple(f"bench-{number}" for number in range(10))
TOP_K = 10
WARMUP = 20
# Searches per timed row whose plan and reads are traced (tracing forces a statistics flush each).
PLAN_SAMPLE = 20
SEED = 7
NEIGHBOURS = 20
SHARES = (0.5, 0.25, 0.25)
NOISE_NORM = 0.1
# Two real distances this close are one tie: float rounding must not turn an equal neighbour into a miss.
TIE = 1e-6
# The default 64 MB cannot hold the graph of 100,000 vectors, and pgvector then finishes the build on
# disk, many times slower; this is a build setting, not something searches depend on.
BUILD_MEMORY = "1GB"
SYNTHETIC = "synthetic-"  # how a synthetic document's source name begins
# Synthetic vectors compared with the real ones, to show how much denser they cluster.
DENSITY_SAMPLE = 1000
NAMESPACE = uuid.UUID("6f1c2a52-3b0e-4c53-9a55-1f0e8a8b5e10")
SYNTHESIS = (
    f"synthetic chunks: text = consecutive sentences from 3 real chunks (a primary and 2 of its "
    f"{NEIGHBOURS} nearest real neighbours, about {'/'.join(str(s) for s in SHARES)} of the primary's "
    f"length); vector = those 3 real vectors weighted by character share + Gaussian noise of norm "
    f"{NOISE_NORM}, normalised; NOT embeddings of their text"
)

FloatArray = npt.NDArray[np.float32]


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentRow:
    id: uuid.UUID
    category: str
    source_name: str
    sha256: str
    size_bytes: int
    chunk_count: int


@dataclasses.dataclass(frozen=True, slots=True)
class ChunkRow:
    document: DocumentRow
    draft: Chunk
    vector: FloatArray


@dataclasses.dataclass(frozen=True, slots=True)
class Query:
    text: str
    vector: list[float]


def chunk_corpus(
    data: Path, limit: int | None, count_tokens: Callable[[str], int]
) -> list[tuple[DocumentRow, Chunk]]:
    chunks: list[tuple[DocumentRow, Chunk]] = []
    with (data / "corpus.jsonl").open() as corpus:
        for position, line in enumerate(corpus):
            if limit is not None and len(chunks) >= limit:
                break
            record = json.loads(line)
            content = f"# {record['title']}\n\n{record['text']}\n".encode()
            try:
                drafts = chunk_blocks(parse(content, MARKDOWN).blocks, count_tokens, ChunkingPolicy())
            except ParseError:
                continue  # ingestion marks such a document failed: it holds no chunks
            document = DocumentRow(
                id=uuid.uuid5(NAMESPACE, f"scifact/{record['_id']}"),
                category=CATEGORIES[position % len(CATEGORIES)],
                source_name=record["_id"],
                sha256=hashlib.sha256(content).hexdigest(),
                size_bytes=len(content),
                chunk_count=len(drafts),
            )
            chunks.extend((document, draft) for draft in drafts)
    return chunks[:limit]


def load_queries(data: Path, limit: int) -> list[str]:
    with (data / "queries.jsonl").open() as queries:
        return [json.loads(line)["text"] for line in itertools.islice(queries, limit)]


def nearest_neighbours(vectors: FloatArray, count: int) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Each vector's `count` nearest others (unordered), and its cosine to the nearest one."""
    count = min(count, len(vectors) - 1)
    neighbours = np.empty((len(vectors), count), dtype=np.intp)
    nearest = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), 1024):  # blocks keep the similarity matrix small
        similarities = vectors[start : start + 1024] @ vectors.T
        rows = np.arange(len(similarities))
        similarities[rows, rows + start] = -np.inf
        neighbours[start : start + 1024] = np.argpartition(-similarities, count - 1, axis=1)[:, :count]
        nearest[start : start + 1024] = similarities.max(axis=1)
    return neighbours, nearest


class Synthesiser:
    """Chunks recombined from real ones, their vectors mixed from the real vectors (module docstring)."""

    def __init__(self, real: Sequence[ChunkRow], count_tokens: Callable[[str], int], max_tokens: int) -> None:
        self.real = real
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.vectors = np.stack([row.vector for row in real])
        self.neighbours, self.nearest_similarity = nearest_neighbours(self.vectors, NEIGHBOURS)
        self.sentences = [[row.draft.text[a:b] for a, b in sentence_spans(row.draft.text)] for row in real]
        self.document_sizes = [row.document.chunk_count for row in real if row.draft.index == 0]

    def rows(self) -> Iterator[ChunkRow]:
        for number in itertools.count():
            yield from self.document(number)

    def nearest_real(self, vectors: FloatArray) -> float:
        """The mean cosine of `vectors` to their nearest real chunk."""
        return float((vectors @ self.vectors.T).max(axis=1).mean())

    def document(self, number: int) -> list[ChunkRow]:
        # Seeded by the document's number alone, so a document is the same whatever was drawn before.
        rng = np.random.default_rng((SEED, number))
        mixes = [self.mix(rng) for _ in range(self.document_sizes[rng.integers(len(self.document_sizes))])]
        name = f"{SYNTHETIC}{number:06d}"
        content = "\n\n".join(passage for _, passage, _ in mixes).encode()
        document = DocumentRow(
            id=uuid.uuid5(NAMESPACE, name),
            category=CATEGORIES[number % len(CATEGORIES)],
            source_name=name,
            sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
            chunk_count=len(mixes),
        )
        heading_path = self.real[mixes[0][0]].draft.heading_path
        rows, offset = [], 0
        for index, (_, passage, vector) in enumerate(mixes):
            end = offset + len(passage)
            draft = Chunk(index, passage, offset, end, None, heading_path, self.count_tokens(passage))
            rows.append(ChunkRow(document, draft, vector))
            offset = end + 2  # the blank line between blocks, as in the real extracted text
        return rows

    def mix(self, rng: np.random.Generator) -> tuple[int, str, FloatArray]:
        """A primary real chunk, and the text and vector mixed from it and two of its neighbours."""
        primary = int(rng.integers(len(self.real)))
        sources = [primary, *(int(n) for n in rng.choice(self.neighbours[primary], 2, replace=False))]
        target = len(self.real[primary].draft.text)
        pieces: list[tuple[int, str]] = []
        for source, share in zip(sources, SHARES, strict=True):
            sentences = self.sentences[source]
            at, taken = int(rng.integers(len(sentences))), 0
            while at < len(sentences) and (taken == 0 or taken < share * target):
                pieces.append((source, sentences[at]))
                taken += len(sentences[at])
                at += 1
        while (
            len(pieces) > len(sources) and self.count_tokens(" ".join(p for _, p in pieces)) > self.max_tokens
        ):
            longest = Counter(source for source, _ in pieces).most_common(1)[0][0]
            pieces.pop(max(i for i, (source, _) in enumerate(pieces) if source == longest))
        chars = Counter[int]()
        for source, piece in pieces:
            chars[source] += len(piece)
        weights = np.array([chars[source] for source in sources], dtype=np.float32) / sum(chars.values())
        vector = weights @ self.vectors[sources]
        vector += rng.normal(0.0, NOISE_NORM / np.sqrt(DIMENSION), DIMENSION).astype(np.float32)
        passage = " ".join(piece for _, piece in pieces)
        return primary, passage, (vector / np.linalg.norm(vector)).astype(np.float32)


@dataclasses.dataclass(frozen=True, slots=True)
class Timing:
    search: str
    p50_ms: float
    p95_ms: float
    mean_ms: float
    mean_hits: float
    reads: dict[str, int]  # how chunks were read, in the sampled searches: index name (or seq scan) to count


@dataclasses.dataclass(frozen=True, slots=True)
class Recall:
    hnsw: float  # search_chunks' vector mode, made to read the HNSW index: the index's own recall
    hnsw_read_index: int  # of those searches, how many did read it
    served: float  # search_chunks' vector mode as it runs, whatever plan PostgreSQL picks
    served_read_index: int


@dataclasses.dataclass(frozen=True, slots=True)
class SizeResult:
    chunks: int
    real_chunks: int
    synthetic_chunks: int
    documents: int
    load_seconds: float
    index_build_seconds: float
    vacuum_analyze_seconds: float
    index_mb: float
    chunks_table_mb: float
    keyword_index_mb: float  # chunk_terms with its indexes, and the counts and stats
    timings: dict[str, list[Timing]]  # by filter: unfiltered, or one category per query
    recall_at_10: dict[str, Recall]  # by filter


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    machine: dict[str, object]
    postgres: dict[str, str]
    settings: dict[str, object]
    corpus: dict[str, object]
    prepare_seconds: float
    sizes: list[SizeResult]


Connection = psycopg.AsyncConnection[tuple[object, ...]]

# The columns COPY fills, with the types their values are sent as (binary COPY needs them).
DOCUMENT_COLUMNS = {
    "id": "uuid", "category": "text", "source_name": "text", "sha256": "text", "mime": "text",
    "size_bytes": "int8", "status": "text", "attempts": "int4", "chunk_count": "int4",
    "progress_pages": "int4", "progress_chunks": "int4",
}  # fmt: skip
CHUNK_COLUMNS = {
    "document_id": "uuid", "category": "text", "chunk_index": "int4", "text": "text", "page": "int4",
    "heading_path": "text[]", "heading": "text", "char_start": "int4", "char_end": "int4",
    "token_count": "int4", "embedding": "vector",
}  # fmt: skip


async def load(conn: Connection, rows: Sequence[ChunkRow], known: set[uuid.UUID]) -> None:
    """COPY the rows, and the documents not loaded yet, in one transaction."""
    # Search never reads a document's bytes, so no `document_contents` rows.
    documents = {row.document.id: row.document for row in rows if row.document.id not in known}
    async with conn.transaction(), conn.cursor() as cursor:
        columns = ", ".join(DOCUMENT_COLUMNS)
        async with cursor.copy(f"COPY documents ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(DOCUMENT_COLUMNS.values()))
            for document in documents.values():
                await copy.write_row(
                    (document.id, document.category, document.source_name, document.sha256, MARKDOWN,
                     document.size_bytes, "ready", 1, document.chunk_count, 0, document.chunk_count)
                )  # fmt: skip
        columns = ", ".join(CHUNK_COLUMNS)
        async with cursor.copy(f"COPY chunks ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(CHUNK_COLUMNS.values()))
            for row in rows:
                draft = row.draft
                await copy.write_row(
                    (row.document.id, row.document.category, draft.index, draft.text, draft.page,
                     list(draft.heading_path), HEADING_SEPARATOR.join(draft.heading_path), draft.start,
                     draft.end, draft.token_count, row.vector)
                )  # fmt: skip
    known.update(documents)


async def build_index(sessionmaker: async_sessionmaker[AsyncSession], embedder: LocalEmbedder) -> float:
    started = time.monotonic()
    async with sessionmaker() as session, session.begin():
        await session.execute(text(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'"))
        # What `reindex` does: drop the index and the recorded embedder, then `ensure_index` records it
        # and builds the index over every row (on its own it builds only when nothing is recorded).
        await reset_index(session, embedder.name, embedder.dimension)
    return time.monotonic() - started


async def megabytes(conn: Connection, relation: str) -> float:
    cursor = await conn.execute("SELECT pg_total_relation_size(%s::regclass)", (relation,))
    row = await cursor.fetchone()
    return round(int(str(row[0])) / 2**20, 1) if row else 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class Variant:
    """A search as timed: its mode, and settings made in its transaction before search_chunks runs."""

    label: str
    mode: SearchMode
    settings: tuple[str, ...] = ()


CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
VARIANTS = (
    Variant("hybrid", SearchMode.hybrid),
    Variant("vector", SearchMode.vector),
    Variant("keyword", SearchMode.keyword),
    # psycopg prepares a statement after its fifth run on a connection, and PostgreSQL may then keep
    # one generic plan, made without knowing the LIMIT or the category: these show what custom plans
    # (planned for each search's values, as before preparation) would cost.
    Variant("hybrid, custom plans", SearchMode.hybrid, (CUSTOM_PLANS,)),
    Variant("vector, custom plans", SearchMode.vector, (CUSTOM_PLANS,)),
)
# With every other way to the nearest rows closed, the planner must read the HNSW index, so recall
# is the index's own even where the planner would rather scan.
HNSW_ONLY = (
    CUSTOM_PLANS,
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL enable_bitmapscan = off",
    "SET LOCAL enable_sort = off",
)
SCAN_COUNTS = (
    "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE relname = 'chunks'"
    " UNION ALL SELECT 'seq scan', seq_scan FROM pg_stat_user_tables WHERE relname = 'chunks'"
)
# Every plan fetches its hits by primary key, and the planner itself reads the ends of
# ix_chunks_document_id to cost a merge join: neither says which plan ran.
PLAN_NOISE = frozenset({"pk_chunks", "ix_chunks_document_id"})
# The search statement is the only one prepared (by psycopg) in its transaction besides SET commands.
PLAN_COUNTS = text(
    "SELECT coalesce(sum(generic_plans), 0) AS generic, coalesce(sum(custom_plans), 0) AS custom"
    " FROM pg_prepared_statements"
    " WHERE statement NOT LIKE 'SET %' AND statement NOT LIKE '%pg_prepared_statements%'"
)
EXACT = text(
    "SELECT embedding <=> CAST(:embedding AS vector) AS distance FROM chunks"
    " WHERE (CAST(:category AS text) IS NULL OR category = :category)"
    " ORDER BY embedding <=> CAST(:embedding AS vector) LIMIT :k"
)
Hits = list[tuple[int, float | None]]


async def search(
    session: AsyncSession, query: Query, mode: SearchMode, category: str | None, settings: Sequence[str]
) -> Hits:
    for setting in settings:
        await session.execute(text(setting))
    hits = await search_chunks(
        session,
        query=query.text,
        embedding=query.vector,
        dimension=DIMENSION,
        top_k=TOP_K,
        mode=mode,
        category=category,
    )
    return [(hit.chunk_id, hit.similarity) for hit in hits]


class Searcher:
    """Runs searches through search_chunks, timed or with the ways they read the chunks table."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], conn: Connection, queries: Sequence[Query]
    ) -> None:
        self.sessionmaker = sessionmaker
        self.conn = conn
        self.queries = queries

    async def timed(self, variant: Variant, categories: Sequence[str | None]) -> Timing:
        pairs = list(zip(self.queries, categories, strict=True))
        # Warm-up fills the caches and lets psycopg prepare the statement, so the timed searches see
        # what a running service sees.
        for query, category in itertools.islice(itertools.cycle(pairs), WARMUP):
            async with self.sessionmaker() as session, session.begin():
                await search(session, query, variant.mode, category, variant.settings)
        latencies: list[float] = []
        hits: list[int] = []
        for query, category in pairs:
            started = time.perf_counter()
            async with self.sessionmaker() as session, session.begin():
                found = await search(session, query, variant.mode, category, variant.settings)
            latencies.append((time.perf_counter() - started) * 1000)
            hits.append(len(found))
        reads = Counter[str]()
        for query, category in pairs[:PLAN_SAMPLE]:
            reads.update((await self.traced(query, variant.mode, category, variant.settings))[1])
        return Timing(
            search=variant.label,
            p50_ms=round(statistics.median(latencies), 2),
            p95_ms=round(statistics.quantiles(latencies, n=100, method="inclusive")[94], 2),
            mean_ms=round(statistics.fmean(latencies), 2),
            mean_hits=round(statistics.fmean(hits), 2),
            reads=dict(sorted(reads.items())),
        )

    async def traced(
        self, query: Query, mode: SearchMode, category: str | None, settings: Sequence[str]
    ) -> tuple[Hits, set[str]]:
        """A search's hits, and how it read chunks: the indexes it scanned, or "seq scan"."""
        before = await self.scan_counts()
        async with self.sessionmaker() as session, session.begin():
            plans_before = (await session.execute(PLAN_COUNTS)).one()
            hits = await search(session, query, mode, category, settings)
            plans = (await session.execute(PLAN_COUNTS)).one()
            # A backend publishes its statistics when idle, at most once a second; forced, they are
            # published before COMMIT returns, so the counts below are this search's alone.
            await session.execute(text("SELECT pg_stat_force_next_flush()"))
        after = await self.scan_counts()
        reads = {name for name, count in after.items() if count > before[name] and name not in PLAN_NOISE}
        if plans.generic > plans_before.generic:
            reads.add("generic plan")
        elif plans.custom > plans_before.custom:
            reads.add("custom plan")
        return hits, reads

    async def scan_counts(self) -> dict[str, int]:
        cursor = await self.conn.execute(SCAN_COUNTS)
        return {str(name): int(str(count)) for name, count in await cursor.fetchall()}

    async def recall(self, categories: Sequence[str | None]) -> Recall:
        hnsw: list[float] = []
        served: list[float] = []
        read_index = Counter[str]()
        for query, category in zip(self.queries, categories, strict=True):
            async with self.sessionmaker() as session, session.begin():
                # The raw column does not match the index's expression (a cast), and index scans are
                # off as well: the planner is left with computing every distance.
                await session.execute(text("SET LOCAL enable_indexscan = off"))
                literal = "[" + ",".join(repr(value) for value in query.vector) + "]"
                parameters = {"embedding": literal, "category": category, "k": TOP_K}
                exact = (await session.scalars(EXACT, parameters)).all()
            if not exact:
                continue
            bound = exact[-1] + TIE
            for name, settings, scores in (("hnsw", HNSW_ONLY, hnsw), ("served", (), served)):
                hits, reads = await self.traced(query, SearchMode.vector, category, settings)
                read_index[name] += HNSW_INDEX in reads
                found = sum(1 for _, similarity in hits if similarity is not None and 1 - similarity <= bound)
                scores.append(min(found, len(exact)) / len(exact))
        return Recall(
            hnsw=round(statistics.fmean(hnsw), 4),
            hnsw_read_index=read_index["hnsw"],
            served=round(statistics.fmean(served), 4),
            served_read_index=read_index["served"],
        )

    async def measure(self) -> tuple[dict[str, list[Timing]], dict[str, Recall]]:
        filters: dict[str, list[str | None]] = {
            "unfiltered": [None] * len(self.queries),
            "category": [CATEGORIES[position % len(CATEGORIES)] for position in range(len(self.queries))],
        }
        timings = {
            name: [await self.timed(variant, categories) for variant in VARIANTS]
            for name, categories in filters.items()
        }
        recalls = {name: await self.recall(categories) for name, categories in filters.items()}
        return timings, recalls


async def server_facts(sessionmaker: async_sessionmaker[AsyncSession], query: Query) -> dict[str, str]:
    names = ("server_version", "shared_buffers", "work_mem", "jit", "max_parallel_workers_per_gather")
    async with sessionmaker() as session, session.begin():
        facts = {name: str(await session.scalar(text(f"SELECT current_setting('{name}')"))) for name in names}
        facts["jit_available"] = str(await session.scalar(text("SELECT pg_jit_available()")))
        facts["pgvector"] = str(
            await session.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
        )
        # Read inside a search's transaction: these are what search_chunks sets for itself.
        await search(session, query, SearchMode.vector, None, ())
        for name in ("hnsw.ef_search", "hnsw.iterative_scan", "hnsw.max_scan_tuples"):
            facts[name] = str(await session.scalar(text(f"SELECT current_setting('{name}')")))
    return facts


def machine() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
    ]
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": models[0] if models else platform.processor(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


async def prepare(
    data: Path, query_count: int, real_limit: int | None, embedder: LocalEmbedder
) -> tuple[list[ChunkRow], list[Query]]:
    drafts = chunk_corpus(data, real_limit, embedder.count_tokens)
    documents = len({document.id for document, _ in drafts})
    print(f"chunked {documents:,} SciFact abstracts into {len(drafts):,} chunks")
    cache = VectorCache(DATA_DIR / f"vectors-{embedder.name.replace('/', '-')}.npz")
    vectors = await embed_cached(embedder, [draft.text for _, draft in drafts], cache)
    query_texts = load_queries(data, query_count)
    query_vectors = await embed_cached(embedder, query_texts, cache)
    await embedder.aclose()  # the model is done; the tokenizer comes back alone for the synthetic chunks
    real = [
        ChunkRow(document, draft, vector) for (document, draft), vector in zip(drafts, vectors, strict=True)
    ]
    queries = [Query(text, vector.tolist()) for text, vector in zip(query_texts, query_vectors, strict=True)]
    return real, queries


async def grow(
    conn: Connection,
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: LocalEmbedder,
    batch: Sequence[ChunkRow],
    known: set[uuid.UUID],
    real_chunks: int,
    queries: Sequence[Query],
) -> SizeResult:
    """Add `batch` to the chunks, rebuild the index, and measure."""
    # Inserting row by row into an HNSW graph is far slower than building it over every row at once,
    # and it is rebuilt below anyway.
    await conn.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
    started = time.monotonic()
    await load(conn, batch, known)
    load_seconds = time.monotonic() - started
    print(f"  loaded in {load_seconds:.1f} s; building the HNSW index")
    build_seconds = await build_index(sessionmaker, embedder)
    started = time.monotonic()
    # The keyword postings too: their index answers a search from the index alone once vacuumed.
    await conn.execute("VACUUM (ANALYZE) chunks, documents, chunk_terms, chunk_term_counts, chunk_term_stats")
    vacuum_seconds = time.monotonic() - started
    print(f"  built in {build_seconds:.1f} s, VACUUM ANALYZE in {vacuum_seconds:.1f} s; searching")
    timings, recalls = await Searcher(sessionmaker, conn, queries).measure()
    cursor = await conn.execute("SELECT count(*) FROM chunks")
    counted = await cursor.fetchone()
    chunks = int(str(counted[0])) if counted else 0
    return SizeResult(
        chunks=chunks,
        real_chunks=min(real_chunks, chunks),
        synthetic_chunks=max(0, chunks - real_chunks),
        documents=len(known),
        load_seconds=round(load_seconds, 1),
        index_build_seconds=round(build_seconds, 1),
        vacuum_analyze_seconds=round(vacuum_seconds, 1),
        index_mb=await megabytes(conn, HNSW_INDEX),
        chunks_table_mb=await megabytes(conn, "chunks"),
        keyword_index_mb=round(
            sum(
                [
                    await megabytes(conn, table)
                    for table in ("chunk_terms", "chunk_term_counts", "chunk_term_stats")
                ]
            ),
            1,
        ),
        timings=timings,
        recall_at_10=recalls,
    )


async def run(data: Path, sizes: list[int], query_count: int, real_limit: int | None) -> Report:
    started = time.monotonic()
    embedder = LocalEmbedder()
    real, queries = await prepare(data, query_count, real_limit, embedder)
    synthesiser = Synthesiser(real, embedder.count_tokens, ChunkingPolicy().max_tokens)
    rows = itertools.chain(real, synthesiser.rows())
    sample: list[FloatArray] = []
    prepare_seconds = time.monotonic() - started

    server = EmbeddedPostgres(DATA_DIR / "postgres", PORT)
    started_here = not server.status().running
    server.start()
    try:
        # A fresh database each run: every figure comes from rows this run loaded.
        server.drop_database(DATABASE)
        server.create_database(DATABASE)
        url = server.url(DATABASE).replace("postgresql://", "postgresql+psycopg://")
        upgrade(url)
        engine = create_engine(url, pool_size=4, connect_timeout=5)
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        try:
            conn = await psycopg.AsyncConnection.connect(server.url(DATABASE), autocommit=True)
            await register_vector_async(conn)
            await conn.cursor().executemany(
                "INSERT INTO categories (name, description) VALUES (%s, 'bench/search.py')",
                [(name,) for name in CATEGORIES],
            )
            known: set[uuid.UUID] = set()
            results: list[SizeResult] = []
            for previous, size in itertools.pairwise([0, *sizes]):
                print(f"{size:,} chunks: adding {size - previous:,}")
                batch = list(itertools.islice(rows, size - previous))
                synthetic = (row.vector for row in batch if row.document.source_name.startswith(SYNTHETIC))
                sample += itertools.islice(synthetic, DENSITY_SAMPLE - len(sample))
                results.append(await grow(conn, sessionmaker, embedder, batch, known, len(real), queries))
            facts = await server_facts(sessionmaker, queries[0])
            await conn.close()
        finally:
            await engine.dispose()
    finally:
        if started_here:
            server.stop()
    return Report(
        machine=machine(),
        postgres=facts,
        settings={
            "top_k": TOP_K,
            "queries": len(queries),
            "warmup_searches": WARMUP,
            "index_use_sample": PLAN_SAMPLE,
            "hnsw_m": HNSW_M,
            "hnsw_ef_construction": HNSW_EF_CONSTRUCTION,
            "build_maintenance_work_mem": BUILD_MEMORY,
            "categories": len(CATEGORIES),
            "timed": "search_chunks in its own session and transaction; query vectors computed beforehand",
        },
        corpus={
            "source": "BEIR SciFact",
            "embedder": embedder.name,
            "real_chunks": len(real),
            "synthetic_chunks_at_largest_size": max(0, sizes[-1] - len(real)),
            "synthetic": SYNTHESIS,
            "mean_cosine_to_nearest_real_chunk": {
                "real_chunks": round(float(synthesiser.nearest_similarity.mean()), 3),
                "synthetic_chunks": round(synthesiser.nearest_real(np.stack(sample)), 3) if sample else None,
            },
            "seed": SEED,
        },
        prepare_seconds=round(prepare_seconds, 1),
        sizes=results,
    )


def print_report(report: Report) -> None:
    postgres = report.postgres
    print(
        f"\n{report.settings['queries']} SciFact queries, top {TOP_K},"
        f" {report.machine['usable_cores']} cores;"
        f" PostgreSQL {postgres['server_version']}, pgvector {postgres['pgvector']}, shared_buffers"
        f" {postgres['shared_buffers']}; HNSW m {HNSW_M}, ef_construction {HNSW_EF_CONSTRUCTION};"
        f" search_chunks sets hnsw.ef_search {postgres['hnsw.ef_search']},"
        f" hnsw.iterative_scan {postgres['hnsw.iterative_scan']}"
    )
    print(SYNTHESIS)
    density = report.corpus["mean_cosine_to_nearest_real_chunk"]
    assert isinstance(density, dict)
    print(
        f"mean cosine to the nearest other real chunk: real chunks {density['real_chunks']}, synthetic"
        f" chunks {density['synthetic_chunks']} (higher means more tightly clustered)"
    )
    print(
        "\n| chunks | real | synthetic | filter | search | p50 ms | p95 ms | mean ms | hits"
        f" | read chunks by (of {PLAN_SAMPLE} searches) |"
    )
    print("|---:|---:|---:|---|---|---:|---:|---:|---:|---|")
    for size in report.sizes:
        counts = f"{size.chunks:,} | {size.real_chunks:,} | {size.synthetic_chunks:,}"
        for name, timings in size.timings.items():
            for timing in timings:
                reads = ", ".join(f"{index} {count}" for index, count in timing.reads.items())
                figures = f"{timing.p50_ms} | {timing.p95_ms} | {timing.mean_ms} | {timing.mean_hits}"
                print(f"| {counts} | {name} | {timing.search} | {figures} | {reads} |")
    print(
        "\n| chunks | load s | HNSW build s | index MB | table MB | keyword index MB | filter"
        " | recall@10 HNSW | read HNSW | recall@10 as served | read HNSW |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for size in report.sizes:
        build = (
            f"{size.load_seconds} | {size.index_build_seconds} | {size.index_mb} | {size.chunks_table_mb}"
            f" | {size.keyword_index_mb}"
        )
        for name, recall in size.recall_at_10.items():
            figures = (
                f"{recall.hnsw} | {recall.hnsw_read_index} | {recall.served} | {recall.served_read_index}"
            )
            print(f"| {size.chunks:,} | {build} | {name} | {figures} |")
    largest = report.sizes[-1]
    hybrid_p95 = next(timing.p95_ms for timing in largest.timings["unfiltered"] if timing.search == "hybrid")
    worst_recall = min(recall.hnsw for recall in largest.recall_at_10.values())
    print(
        f"\ntargets (set for 100,000 chunks), at {largest.chunks:,}: hybrid p95 {hybrid_p95} ms"
        f" ({'met' if hybrid_p95 < 50 else 'MISSED'}: < 50), HNSW recall@10 {worst_recall}"
        f" ({'met' if worst_recall >= 0.95 else 'MISSED'}: >= 0.95)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--sizes", default="10000,100000", help="chunk counts, ascending, comma-separated")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--real-chunks", type=int, default=None, help="embed at most this many real chunks")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if sizes != sorted(set(sizes)) or sizes[0] < 1:
        parser.error("--sizes must be positive and ascending")
    if args.queries < 2 or (args.real_chunks is not None and args.real_chunks < 3):
        parser.error("--queries needs at least 2, --real-chunks at least 3")
    started = time.monotonic()
    report = asyncio.run(run(args.data, sizes, args.queries, args.real_chunks))
    total_seconds = round(time.monotonic() - started, 1)
    print_report(report)
    out = ROOT / "bench" / "results" / "search.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**dataclasses.asdict(report), "total_seconds": total_seconds}, indent=2))
    print(f"took {total_seconds} s; written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
