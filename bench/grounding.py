"""Extraction and the groundedness check on the sample knowledge: quality, false alarms, detection, time.

Run by hand (never part of the test suite):

    .venv/bin/python bench/grounding.py [--sweep]

Every file of `knowledge/` goes through the real parser and chunker and is embedded with the default
local embedder (one thread, as in an API process). For each case of `bench/grounding_cases.py` the
passages are the top 5 chunks of its category by cosine similarity over 0.3 (a persona's defaults;
the service's hybrid search ranks a little differently). Then:

- extraction: is the answering sentence quoted, and is it the best one; how long are the answers;
  how long does choosing the quotes take (embedding included);
- the groundedness check: how many sentences of the extractive answers and of the faithful
  hand-written sentences it flags (false alarms), and how many wrong sentences it flags (detection);
  how long one check takes.

`--sweep` prints false alarms and detection for other thresholds and lexical weights.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.grounding_cases import FAITHFUL, QUESTIONS, WRONG, WRONG_BY_SMOLLM2  # noqa: E402

from purpose_agent.chat.extractive import (  # noqa: E402
    ExtractionPolicy,
    ExtractiveReason,
    choose_quotes,
    compose,
)
from purpose_agent.chat.grounding import GroundingPolicy, Support, assess  # noqa: E402
from purpose_agent.chat.passages import Passage  # noqa: E402
from purpose_agent.knowledge.blocks import HEADING_SEPARATOR  # noqa: E402
from purpose_agent.knowledge.chunking import ChunkingPolicy, chunk_blocks  # noqa: E402
from purpose_agent.knowledge.detection import detect_type  # noqa: E402
from purpose_agent.knowledge.embeddings.local import LocalEmbedder  # noqa: E402
from purpose_agent.knowledge.parsing import parse  # noqa: E402

TOP_K = 5
MIN_SCORE = 0.3
DEFAULT_POLICY = GroundingPolicy()
# The embedder's similarity and nothing else, one sentence: what the words, headings and ranks add.
COSINE_ALONE = ExtractionPolicy(lexical_weight=0, heading_weight=0, rank_penalty=0, max_sentences=1, follow=0)


class Knowledge:
    """The sample knowledge, chunked and embedded in memory, searched by cosine similarity."""

    def __init__(self, embedder: LocalEmbedder) -> None:
        self.embedder = embedder
        self.chunks: list[tuple[str, str, str, str]] = []  # category, source, heading, text
        self.vectors = np.zeros((0, 384), dtype=np.float32)

    async def load(self, folder: Path) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                document = parse(data, detect_type(data, path.name))
                for chunk in chunk_blocks(document.blocks, self.embedder.count_tokens, ChunkingPolicy()):
                    heading = HEADING_SEPARATOR.join(chunk.heading_path)
                    self.chunks.append((path.parent.name, path.name, heading, chunk.text))
        vectors = await self.embedder.embed([text for *_, text in self.chunks])
        self.vectors = np.array(vectors, dtype=np.float32)

    async def passages(self, category: str, question: str) -> list[Passage]:
        [query] = await self.embedder.embed([question])
        similarities = self.vectors @ np.array(query, dtype=np.float32)
        ranked = [
            index
            for index in np.argsort(-similarities)
            if self.chunks[index][0] == category and similarities[index] >= MIN_SCORE
        ][:TOP_K]
        return [
            Passage(number, self.chunks[index][3], self.chunks[index][1], None, self.chunks[index][2] or None)
            for number, index in enumerate(ranked, 1)
        ]


def milliseconds(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


async def extraction(knowledge: Knowledge) -> list[tuple[str, str, list[str]]]:
    """Extraction's numbers; returns each question's passages' category, question and quoted sentences."""
    quoted, best, lengths, times = 0, 0, [], []
    answers = []
    for category, question, expected in QUESTIONS:
        passages = await knowledge.passages(category, question)
        started = time.perf_counter()
        quotes = await choose_quotes(question, passages, knowledge.embedder)
        text = compose(quotes, ExtractiveReason.default)
        times.append(time.perf_counter() - started)
        quoted += any(phrase in quote.text for quote in quotes for phrase in expected)
        best += bool(quotes) and any(phrase in max(quotes, key=lambda q: q.score).text for phrase in expected)
        lengths.append(len(text))
        answers.append((category, question, [quote.text for quote in quotes]))
        if not any(phrase in quote.text for quote in quotes for phrase in expected):
            print(f"  not quoted: {question!r} -> {quotes[0].text[:90] if quotes else None!r}")
    total = len(QUESTIONS)
    print(f"extraction: answering sentence quoted {quoted}/{total}, best-scored {best}/{total}")
    alone = 0
    for category, question, expected in QUESTIONS:
        passages = await knowledge.passages(category, question)
        [top] = await choose_quotes(question, passages, knowledge.embedder, COSINE_ALONE) or [None]
        alone += top is not None and any(phrase in top.text for phrase in expected)
    print(f"  by cosine similarity alone, the best sentence answers {alone}/{total}")
    print(f"  answers {statistics.mean(lengths):.0f} characters on average, at most {max(lengths)}")
    print(f"  time to choose the quotes: {milliseconds(times)}")
    return answers


async def supports(
    knowledge: Knowledge, cases: list[tuple[str, str, str]], times: list[float]
) -> list[Support | None]:
    """Each case's sentence weighed against its question's passages; None when it is not a claim."""
    found: list[Support | None] = []
    for category, question, sentence in cases:
        passages = await knowledge.passages(category, question)
        started = time.perf_counter()
        [support] = await assess(sentence, passages, knowledge.embedder) or [None]
        times.append(time.perf_counter() - started)
        found.append(support)
    return found


def flagged(found: list[Support | None], policy: GroundingPolicy = DEFAULT_POLICY) -> int:
    """How many claims `policy` finds unsupported (what `assess` decides, from what it measured)."""
    return sum(
        1
        for support in found
        if support is not None
        and not policy.supports(support.similarity, support.lexical, support.missing_terms)
    )


async def grounding(knowledge: Knowledge, answers: list[tuple[str, str, list[str]]], sweep: bool) -> None:
    extracted = [
        (category, question, sentence) for category, question, quoted in answers for sentence in quoted
    ]
    times: list[float] = []
    quoted = await supports(knowledge, extracted, times)
    faithful = await supports(knowledge, FAITHFUL, times)
    wrong = await supports(knowledge, WRONG, times)
    smol = [support for support, case in zip(wrong, WRONG, strict=True) if case in WRONG_BY_SMOLLM2]
    policy = GroundingPolicy()
    print(f"grounding (threshold {policy.threshold}, lexical weight {policy.lexical_weight}):")
    print(
        f"  false alarms: extractive sentences {flagged(quoted)}/{len(quoted)}, "
        f"faithful sentences {flagged(faithful)}/{len(faithful)}"
    )
    print(
        f"  detection: wrong sentences {flagged(wrong)}/{len(wrong)} "
        f"(written by SmolLM2-135M: {flagged(smol)}/{len(smol)})"
    )
    print(f"  time per check of one sentence: {milliseconds(times)}")
    for (_, _, sentence), support in zip(FAITHFUL, faithful, strict=True):
        if support is not None and not support.supported:
            print(f"  false alarm: {sentence!r} ({support.similarity:.2f}, {support.lexical:.2f})")
    for (_, _, sentence), support in zip(WRONG, wrong, strict=True):
        if support is None or support.supported:
            print(f"  missed: {sentence!r}")
    if not sweep:
        return
    print("threshold  lexical weight  false alarms  detection")
    for weight in (0.0, 0.25, 0.5, 0.75, 1.0):
        for threshold in (0.8, 0.9, 0.95, 0.98, 1.0, 1.05, 1.1, 1.2, 1.3, 1.4):
            other = GroundingPolicy(threshold, weight)
            false_alarms = flagged(quoted, other) + flagged(faithful, other)
            print(
                f"{threshold:9}  {weight:14}  {false_alarms:5}/{len(quoted) + len(faithful):<6}  "
                f"{flagged(wrong, other):4}/{len(wrong)}"
            )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="try other thresholds and weights")
    arguments = parser.parse_args()
    # One thread, as an API process embeds (composition.API_EMBEDDER_THREADS).
    knowledge = Knowledge(LocalEmbedder(threads=1))
    await knowledge.load(ROOT / "knowledge")
    answers = await extraction(knowledge)
    await grounding(knowledge, answers, arguments.sweep)


if __name__ == "__main__":
    asyncio.run(main())
