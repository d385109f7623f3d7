"""Retrieval quality on BEIR SciFact: nDCG@10, recall@10 and MRR@10 of vector, keyword and hybrid search.

Run by hand (never part of the test suite, and never while tests run: it times searches):

    .venv/bin/python bench/retrieval_quality.py [--data ../shared/data/scifact] [--queries 300]
                                                [--cross-validate]

Every abstract goes through the real pipeline (parse, chunk, embed with the default local embedder,
store) into an embedded PostgreSQL kept in `.data/bench-scifact/postgres`, so a second run skips
ingestion.
Vectors are cached beside it (`vectors-*.npz`, keyed by the SHA-256 of each text): a run on a new
database, after a schema or chunking change, embeds only texts it has not seen. A document's rank is
the rank of its best chunk; each search asks for 30 chunks, enough for 10 documents. Latency is
`search_chunks` in its own session and transaction, as the API runs it, the question's vector
computed beforehand, after one untimed pass over every question. Published nDCG@10 on SciFact:
BM25 0.665-0.679, all-MiniLM-L6-v2 0.645.

"hybrid + rerank" is a row with no figures: no reranker can run here offline (no package on PyPI
ships cross-encoder weights; those found download them at run time).

`--cross-validate` chooses hybrid search's two knobs, the vector side's weight and the candidates
per side, by 2-fold cross-validation: the questions are split in two halves at random (seeded), the
best setting on one half is measured on the other, both ways. The shipped setting is measured on both
halves too. Prints tables and writes bench/results/retrieval_quality.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.vector_cache import CachedEmbedder, VectorCache  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from purpose_agent.db.embedded import EmbeddedPostgres  # noqa: E402
from purpose_agent.db.engine import create_engine  # noqa: E402
from purpose_agent.db.migrate import upgrade  # noqa: E402
from purpose_agent.knowledge.chunking import ChunkingPolicy  # noqa: E402
from purpose_agent.knowledge.embeddings.local import LocalEmbedder  # noqa: E402
from purpose_agent.knowledge.ingestion import ingest_document  # noqa: E402
from purpose_agent.knowledge.models import Category, Document, DocumentContent, DocumentStatus  # noqa: E402
from purpose_agent.knowledge.search import DENSE_WEIGHT, SearchMode, candidates_for, search_chunks  # noqa: E402

CATEGORY = "scifact"
PORT = 5439
DATA_DIR = ROOT / ".data" / "bench-scifact"
TOP_K = 30
CUTOFF = 10
RERANK = "hybrid + rerank"
NO_RERANKER = (
    "not measured: no reranker runs offline here (no package on PyPI ships cross-encoder weights; "
    "those found download them at run time)"
)
SEED = 13
WEIGHTS = tuple(round(0.3 + 0.05 * step, 2) for step in range(11))  # 0.30 .. 0.80
# The last is what search_chunks takes for TOP_K hits: the shipped setting.
CANDIDATE_COUNTS = tuple(sorted({30, 50, 100, candidates_for(TOP_K)}))


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    vector: list[float]
    relevant: frozenset[str]


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


def ndcg(ranked: Sequence[str], relevant: frozenset[str]) -> float:
    gains = sum(
        1 / math.log2(position + 2) for position, doc in enumerate(ranked[:CUTOFF]) if doc in relevant
    )
    ideal = sum(1 / math.log2(position + 2) for position in range(min(CUTOFF, len(relevant))))
    return gains / ideal if ideal else 0.0


def recall(ranked: Sequence[str], relevant: frozenset[str]) -> float:
    return len(set(ranked[:CUTOFF]) & relevant) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], relevant: frozenset[str]) -> float:
    return next((1 / position for position, doc in enumerate(ranked[:CUTOFF], 1) if doc in relevant), 0.0)


async def ingest(
    sessionmaker: async_sessionmaker[AsyncSession], corpus: dict[str, str], embedder: CachedEmbedder
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


async def ranking(
    sessionmaker: async_sessionmaker[AsyncSession],
    question: Question,
    mode: SearchMode,
    *,
    candidates: int | None = None,
    dense_weight: float = DENSE_WEIGHT,
) -> tuple[list[str], float]:
    """The documents in the order search ranks them (by their best chunk), and the search's ms."""
    started = time.perf_counter()
    async with sessionmaker() as session, session.begin():
        hits = await search_chunks(
            session,
            query=question.text,
            embedding=question.vector,
            dimension=len(question.vector),
            top_k=TOP_K,
            mode=mode,
            category=CATEGORY,
            candidates=candidates,
            dense_weight=dense_weight,
        )
    elapsed = (time.perf_counter() - started) * 1000
    return list(dict.fromkeys(hit.source_name for hit in hits)), elapsed


async def measure(
    sessionmaker: async_sessionmaker[AsyncSession], questions: Sequence[Question]
) -> dict[str, object]:
    # One untimed pass first: the first mode timed would otherwise read the indexes from disk.
    for question in questions:
        await ranking(sessionmaker, question, SearchMode.hybrid)
    rows: dict[str, object] = {}
    for mode in SearchMode:
        ndcgs, recalls, ranks, latencies = [], [], [], []
        for question in questions:
            ranked, elapsed = await ranking(sessionmaker, question, mode)
            ndcgs.append(ndcg(ranked, question.relevant))
            recalls.append(recall(ranked, question.relevant))
            ranks.append(reciprocal_rank(ranked, question.relevant))
            latencies.append(elapsed)
        cuts = statistics.quantiles(latencies, n=20, method="inclusive")
        rows[mode.value] = {
            "ndcg@10": round(statistics.fmean(ndcgs), 4),
            "recall@10": round(statistics.fmean(recalls), 4),
            "mrr@10": round(statistics.fmean(ranks), 4),
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(cuts[18], 2),
        }
    rows[RERANK] = {"available": False, "why": NO_RERANKER}
    return rows


async def cross_validate(
    sessionmaker: async_sessionmaker[AsyncSession], questions: Sequence[Question]
) -> dict[str, object]:
    """nDCG@10 of every setting on each half, the setting each half chooses, and its score on the other."""
    order = list(range(len(questions)))
    random.Random(SEED).shuffle(order)
    halves = (sorted(order[: len(order) // 2]), sorted(order[len(order) // 2 :]))
    scores: dict[tuple[float, int], list[float]] = {}
    for candidates in CANDIDATE_COUNTS:
        for weight in WEIGHTS:
            print(f"  weight {weight}, {candidates} candidates per side")
            scores[weight, candidates] = [
                ndcg(
                    (
                        await ranking(
                            sessionmaker, q, SearchMode.hybrid, candidates=candidates, dense_weight=weight
                        )
                    )[0],
                    q.relevant,
                )
                for q in questions
            ]

    def mean(setting: tuple[float, int], half: Sequence[int]) -> float:
        return statistics.fmean(scores[setting][position] for position in half)

    shipped = (DENSE_WEIGHT, candidates_for(TOP_K))
    folds = []
    for name, (train, test) in (("A", (halves[1], halves[0])), ("B", halves)):
        chosen = max(scores, key=lambda setting: (mean(setting, train), -abs(setting[0] - 0.5)))
        folds.append(
            {
                "test_half": name,
                "chosen_on_other_half": {"dense_weight": chosen[0], "candidates": chosen[1]},
                "train_ndcg@10": round(mean(chosen, train), 4),
                "test_ndcg@10": round(mean(chosen, test), 4),
                "shipped_test_ndcg@10": round(mean(shipped, test), 4),
            }
        )
    everyone = range(len(questions))
    return {
        "seed": SEED,
        "half_sizes": [len(half) for half in halves],
        "folds": folds,
        "grid": [
            {
                "dense_weight": weight,
                "candidates": candidates,
                "ndcg@10": round(mean((weight, candidates), everyone), 4),
            }
            for weight, candidates in scores
        ],
    }


async def run(data: Path, limit: int, validate: bool) -> dict[str, object]:
    server = EmbeddedPostgres(DATA_DIR / "postgres", PORT)
    server.start(databases=("scifact",))
    url = server.url("scifact").replace("postgresql://", "postgresql+psycopg://")
    upgrade(url)
    engine = create_engine(url, pool_size=4, connect_timeout=5)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    local = LocalEmbedder()
    embedder = CachedEmbedder(local, VectorCache(DATA_DIR / f"vectors-{local.name.replace('/', '-')}.npz"))
    try:
        corpus, queries, qrels = load(data, limit)
        ingest_seconds = await ingest(sessionmaker, corpus, embedder)
        vectors = await embedder.embed(list(queries.values()))
        questions = [
            Question(query_id, text, vector, frozenset(qrels[query_id]))
            for (query_id, text), vector in zip(queries.items(), vectors, strict=True)
        ]
        results: dict[str, object] = {
            "documents": len(corpus),
            "queries": len(queries),
            "ingest_seconds": round(ingest_seconds, 1),
            "top_k": TOP_K,
            "dense_weight": DENSE_WEIGHT,
            "modes": await measure(sessionmaker, questions),
        }
        if validate:
            results["cross_validation"] = await cross_validate(sessionmaker, questions)
    finally:
        await embedder.aclose()
        await engine.dispose()
        server.stop()
    return results


def print_report(result: dict[str, object]) -> None:
    print(f"\nSciFact: {result['documents']} documents, {result['queries']} test queries, top {TOP_K} chunks")
    print("\n| mode | nDCG@10 | recall@10 | MRR@10 | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    modes = result["modes"]
    assert isinstance(modes, dict)
    for mode in SearchMode:
        row = modes[mode.value]
        print(
            f"| {mode.value} | {row['ndcg@10']} | {row['recall@10']} | {row['mrr@10']}"
            f" | {row['p50_ms']} | {row['p95_ms']} |"
        )
    print(f"| {RERANK} | n/a | n/a | n/a | n/a | n/a |\n\n{RERANK}: {NO_RERANKER}")
    validation = result.get("cross_validation")
    if isinstance(validation, dict):
        print(f"\n2-fold cross-validation (halves of {validation['half_sizes']}, seed {validation['seed']})")
        print(
            "\n| test half | chosen on the other half | its nDCG@10 there | on this half | shipped setting |"
        )
        print("|---|---|---:|---:|---:|")
        for fold in validation["folds"]:
            chosen = fold["chosen_on_other_half"]
            print(
                f"| {fold['test_half']} | weight {chosen['dense_weight']}, {chosen['candidates']} candidates"
                f" | {fold['train_ndcg@10']} | {fold['test_ndcg@10']} | {fold['shipped_test_ndcg@10']} |"
            )
        print("\n| candidates | " + " | ".join(str(weight) for weight in WEIGHTS) + " |")
        print("|---:|" + "---:|" * len(WEIGHTS))
        grid = {(row["dense_weight"], row["candidates"]): row["ndcg@10"] for row in validation["grid"]}
        for candidates in CANDIDATE_COUNTS:
            print(
                f"| {candidates} | " + " | ".join(str(grid[weight, candidates]) for weight in WEIGHTS) + " |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--cross-validate", action="store_true", help="choose the fusion's knobs by 2-fold CV"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.data, args.queries, args.cross_validate))
    print_report(result)
    out = ROOT / "bench" / "results" / "retrieval_quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
