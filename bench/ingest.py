"""Ingestion speed end to end, against the embedder alone on the same chunks.

Run by hand (never part of the test suite):

    .venv/bin/python bench/ingest.py [--data ../shared/data/scifact] [--long 12] [--short 150]

Two document sets are made from SciFact abstracts (real scientific prose): "long" documents of 25
abstracts each, one heading per abstract, and "short" documents of one abstract each, where the
per-document work weighs most. Each set is registered as an upload would be (document, bytes and
job in one transaction), then a real procrastinate worker runs the jobs: parse, chunk, embed with
the default local embedder, swap the chunks in. The clock runs from the worker's start until the
queue is empty. The embedder alone then embeds the very chunk texts the pipeline stored, in the
pipeline's batch size, with the same model instance, already warm. Target (DESIGN): end to end at
least 80% of the embedder alone. An embedded PostgreSQL in `.data/bench-ingest` on port 5441 is
used and emptied each run. Prints a table and writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from purpose_agent.db.embedded import EmbeddedPostgres  # noqa: E402
from purpose_agent.db.engine import create_engine, create_sessionmaker  # noqa: E402
from purpose_agent.db.migrate import upgrade  # noqa: E402
from purpose_agent.jobs.queue import INGESTION_QUEUE, job_app, run_worker  # noqa: E402
from purpose_agent.kit.executor import BoundedExecutor  # noqa: E402
from purpose_agent.knowledge.chunking import ChunkingPolicy  # noqa: E402
from purpose_agent.knowledge.embeddings.local import LocalEmbedder  # noqa: E402
from purpose_agent.knowledge.models import Category, Chunk, Document  # noqa: E402
from purpose_agent.knowledge.registration import register_document  # noqa: E402
from purpose_agent.knowledge.tasks import IngestionJobPolicy, ingestion_blueprint  # noqa: E402

PORT = 5441
DATABASE = "bench_ingest"
ABSTRACTS_PER_LONG_DOCUMENT = 25
BATCH = 16


def abstracts(data: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (data / "corpus.jsonl").read_text().splitlines()]
    return [(row["title"], row["text"]) for row in rows if row["text"].strip()]


def document_sets(data: Path, long: int, short: int) -> dict[str, list[tuple[str, bytes]]]:
    pool = abstracts(data)
    per_long = ABSTRACTS_PER_LONG_DOCUMENT
    long_docs = [
        (
            f"review-{n}.md",
            "\n\n".join(
                f"# {title}\n\n{body}" for title, body in pool[n * per_long : (n + 1) * per_long]
            ).encode(),
        )
        for n in range(long)
    ]
    offset = long * per_long
    short_docs = [
        (f"abstract-{n}.md", f"# {title}\n\n{body}\n".encode())
        for n, (title, body) in enumerate(pool[offset : offset + short])
    ]
    return {"long": long_docs, "short": short_docs}


async def pipeline(
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    embedder: LocalEmbedder,
    category: str,
    documents: list[tuple[str, bytes]],
) -> tuple[float, list[str]]:
    """Seconds from the worker's start to an empty queue, and the chunk texts it stored."""
    async with sessionmaker() as session, session.begin():
        session.add(Category(name=category, description=""))
        await session.flush()
        for name, data in documents:
            await register_document(session, category=category, name=name, data=data, max_bytes=20 << 20)
    app = job_app(
        database_url,
        [
            ingestion_blueprint(
                sessionmaker,
                embedder,
                ChunkingPolicy(),
                IngestionJobPolicy(),
                BoundedExecutor("parse", workers=2, max_queued=2),
            )
        ],
    )
    started = time.perf_counter()
    await run_worker(
        app,
        concurrency=1,
        heartbeat_seconds=10,
        stalled_after_seconds=30,
        wait=False,
        queues=[INGESTION_QUEUE],
    )
    elapsed = time.perf_counter() - started
    async with sessionmaker() as session:
        statuses = (await session.scalars(select(Document.status).where(Document.category == category))).all()
        assert set(statuses) == {"ready"}, f"not every document became ready: {statuses}"
        texts = (
            await session.scalars(
                select(Chunk.text)
                .join(Document, Document.id == Chunk.document_id)
                .where(Document.category == category)
                .order_by(Document.created_at, Chunk.chunk_index)
            )
        ).all()
    return elapsed, list(texts)


async def embedder_alone(embedder: LocalEmbedder, texts: list[str]) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        await embedder.embed(texts[start : start + BATCH])
    return time.perf_counter() - started


async def run(data: Path, long: int, short: int) -> dict[str, object]:
    server = EmbeddedPostgres(ROOT / ".data" / "bench-ingest", PORT)
    was_running = server.status().running
    server.start()
    server.drop_database(DATABASE)
    server.create_database(DATABASE)
    url = server.url(DATABASE).replace("postgresql://", "postgresql+psycopg://")
    upgrade(url)
    engine = create_engine(url, pool_size=4, connect_timeout=5)
    sessionmaker = create_sessionmaker(engine)
    embedder = LocalEmbedder()
    await embedder.embed(["warm up the model and its session"] * BATCH)
    results: dict[str, object] = {"cores": os.cpu_count(), "batch": BATCH}
    try:
        for name, documents in document_sets(data, long, short).items():
            if not documents:
                continue
            seconds, texts = await pipeline(sessionmaker, url, embedder, f"bench-{name}", documents)
            alone = await embedder_alone(embedder, texts)
            results[name] = {
                "documents": len(documents),
                "chunks": len(texts),
                "mean_chunk_tokens": round(sum(map(embedder.count_tokens, texts)) / len(texts), 1),
                "pipeline_seconds": round(seconds, 2),
                "embedder_seconds": round(alone, 2),
                "pipeline_chunks_per_second": round(len(texts) / seconds, 2),
                "embedder_chunks_per_second": round(len(texts) / alone, 2),
                "ratio": round(alone / seconds, 3),
            }
            print(f"  {name}: {results[name]}")
    finally:
        await embedder.aclose()
        await engine.dispose()
        if not was_running:
            server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--long", type=int, default=12, help="documents of 25 abstracts each")
    parser.add_argument("--short", type=int, default=150, help="documents of one abstract each")
    args = parser.parse_args()
    result = asyncio.run(run(args.data, args.long, args.short))
    print()
    print("| set | documents | chunks | tokens/chunk | pipeline chunks/s | embedder chunks/s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in ("long", "short"):
        row = result.get(name)
        if isinstance(row, dict):
            print(
                f"| {name} | {row['documents']} | {row['chunks']} | {row['mean_chunk_tokens']} | "
                f"{row['pipeline_chunks_per_second']} | {row['embedder_chunks_per_second']} | "
                f"{row['ratio']:.0%} |"
            )
    out = ROOT / "bench" / "results" / "ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
