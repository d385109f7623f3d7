"""Retrieval quality on BEIR SciFact: nDCG@10 and recall@10 of vector, keyword and hybrid search.

Run by hand (never part of the test suite):

    .venv/bin/python bench/retrieval_quality.py [--data ../shared/data/scifact] [--queries 300]

Every abstract goes through the real pipeline (parse, chunk, embed with the default local embedder,
store) into an embedded PostgreSQL kept in `.data/bench-scifact`, so a second run skips ingestion.
A document's rank is the rank of its best chunk. Published nDCG@10 on SciFact: BM25 0.665-0.679,
all-MiniLM-L6-v2 0.645. Prints a table and writes bench/results/retrieval_quality.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from purpose_agent.db.embedded import EmbeddedPostgres  # noqa: E402
from purpose_agent.db.engine import create_engine  # noqa: E402
from purpose_agent.db.migrate import upgrade  # noqa: E402
from purpose_agent.knowledge.chunking import ChunkingPolicy  # noqa: E402
from purpose_agent.knowledge.embeddings.local import LocalEmbedder  # noqa: E402
from purpose_agent.knowledge.ingestion import ingest_document  # noqa: E402
from purpose_agent.knowledge.models import Category, Document, DocumentContent, DocumentStatus  # noqa: E402
from purpose_agent.knowledge.search import SearchMode, search_chunks  # noqa: E402

CATEGORY = "scifact"
PORT = 5439


def load(data: Path, limit: int) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    corpus = {}
    for line in (data / "corpus.jsonl").read_text().splitlines():
        row = json.loads(line)
        corpus[row["_id"]] = f"# {row['title']}\n\n{row['text']}\n"
    qrels: dict[str, set[str]] = {}
    for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(query_id, set()).add(doc_id)
    queries = {}
    for line in (data / "queries.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["_id"] in qrels:
            queries[row["_id"]] = row["text"]
    chosen = dict(list(queries.items())[:limit])
    return corpus, chosen, {query_id: qrels[query_id] for query_id in chosen}


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    gains = sum(1 / math.log2(position + 2) for position, doc in enumerate(ranked[:10]) if doc in relevant)
    ideal = sum(1 / math.log2(position + 2) for position in range(min(10, len(relevant))))
    return gains / ideal if ideal else 0.0


async def ingest(
    sessionmaker: async_sessionmaker[AsyncSession], corpus: dict[str, str], embedder: LocalEmbedder
) -> float:
    async with sessionmaker() as session, session.begin():
        ready = await session.scalar(
            select(func.count()).select_from(Document).where(Document.status == DocumentStatus.ready.value)
        )
        if ready == len(corpus):
            return 0.0
        if await session.get(Category, CATEGORY) is None:
            session.add(Category(name=CATEGORY, description="BEIR SciFact abstracts"))
        known = set((await session.scalars(select(Document.source_name))).all())
        for doc_id, text in corpus.items():
            if doc_id in known:
                continue
            data = text.encode()
            document = Document(
                id=uuid.uuid4(),
                category=CATEGORY,
                source_name=doc_id,
                sha256="",
                mime="text/markdown",
                size_bytes=len(data),
            )
            session.add(document)
            await session.flush()
            session.add(DocumentContent(document_id=document.id, data=data))
    async with sessionmaker() as session:
        pending = (
            await session.scalars(select(Document.id).where(Document.status != DocumentStatus.ready.value))
        ).all()
    started = time.monotonic()
    for position, document_id in enumerate(pending, 1):
        await ingest_document(sessionmaker, document_id, embedder, ChunkingPolicy())
        if position % 250 == 0:
            print(
                f"  ingested {position}/{len(pending)} ({position / (time.monotonic() - started):.1f} docs/s)"
            )
    return time.monotonic() - started


async def run(data: Path, limit: int) -> dict[str, object]:
    server = EmbeddedPostgres(ROOT / ".data" / "bench-scifact", PORT)
    server.start(databases=("scifact",))
    url = server.url("scifact").replace("postgresql://", "postgresql+psycopg://")
    upgrade(url)
    engine = create_engine(url, pool_size=4, connect_timeout=5)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    embedder = LocalEmbedder()
    corpus, queries, qrels = load(data, limit)
    ingest_seconds = await ingest(sessionmaker, corpus, embedder)

    results: dict[str, object] = {
        "documents": len(corpus),
        "queries": len(queries),
        "ingest_seconds": ingest_seconds,
    }
    for mode in SearchMode:
        scores, recalls, latencies = [], [], []
        for query_id, text in queries.items():
            [vector] = await embedder.embed([text])
            started = time.perf_counter()
            async with sessionmaker() as session, session.begin():
                hits = await search_chunks(
                    session,
                    query=text,
                    embedding=vector,
                    dimension=embedder.dimension,
                    top_k=30,
                    mode=mode,
                    category=CATEGORY,
                )
            latencies.append((time.perf_counter() - started) * 1000)
            ranked: list[str] = []
            for hit in hits:
                if hit.source_name not in ranked:
                    ranked.append(hit.source_name)
            scores.append(ndcg_at_10(ranked, qrels[query_id]))
            recalls.append(len(set(ranked[:10]) & qrels[query_id]) / len(qrels[query_id]))
        latencies.sort()
        results[mode.value] = {
            "ndcg@10": round(sum(scores) / len(scores), 4),
            "recall@10": round(sum(recalls) / len(recalls), 4),
            "p50_ms": round(latencies[len(latencies) // 2], 2),
            "p95_ms": round(latencies[int(len(latencies) * 0.95)], 2),
        }
    await embedder.aclose()
    await engine.dispose()
    server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    result = asyncio.run(run(args.data, args.queries))
    print(f"SciFact: {result['documents']} documents, {result['queries']} test queries")
    print(f"{'mode':>8} {'nDCG@10':>8} {'recall@10':>10} {'p50 ms':>8} {'p95 ms':>8}")
    for mode in SearchMode:
        row = result[mode.value]
        assert isinstance(row, dict)
        cells = (row["ndcg@10"], row["recall@10"], row["p50_ms"], row["p95_ms"])
        print(f"{mode.value:>8}" + "".join(f" {cell:>9}" for cell in cells))
    out = ROOT / "bench" / "results" / "retrieval_quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
