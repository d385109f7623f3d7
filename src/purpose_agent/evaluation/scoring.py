"""The metrics, computed from questions and replies alone: no I/O, so they are tested as functions.

- citation hit@1 / hit@5, over the questions that expect sources or headings: the first citation / one
  of the first five comes from an expected source and lies under an expected heading (each constraint
  applies when the entry gives it). A question that failed or abstained has no citation: a miss.
- correct abstentions, over the questions marked `abstain: true`: the reply says `abstained`.
- groundedness, over the answers (not abstained) that carry `grounded`: how many are grounded;
  "n/a" when none carries it (a service without the check).
- latency, over the answers: p50 and p95 of the round trips (nearest rank).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from purpose_agent.evaluation.answers import Answer, Cited, Failure, Reply
from purpose_agent.evaluation.questions import Entry, Question

HIT_DEPTH = 5
# The separator of heading paths in citations ("Errors and troubleshooting > 413 Body ...").
HEADING_SEPARATOR = " > "


def _segments(heading: str) -> list[str]:
    spaced = " ".join(heading.split()).casefold()
    return [part.strip() for part in spaced.split(HEADING_SEPARATOR) if part.strip()]


def under_heading(path: str, expected: str) -> bool:
    """True when the heading path holds `expected` (one heading, or several joined by " > ") as a run.

    Case and spacing aside: "413 Body or document too large" and "Errors and troubleshooting > 413 Body
    or document too large" both hold "Errors and troubleshooting > 413 Body or document too large".
    """
    wanted, segments = _segments(expected), _segments(path)
    if not wanted:
        return False
    width = len(wanted)
    return any(segments[start : start + width] == wanted for start in range(len(segments) - width + 1))


def is_expected(citation: Cited, question: Question) -> bool:
    """True when the citation comes from an expected source and lies under an expected heading."""
    if question.sources and citation.source not in question.sources:
        return False
    return not question.headings or any(under_heading(citation.heading, h) for h in question.headings)


@dataclass(frozen=True, slots=True)
class Scored:
    """One question's reply and verdicts; a verdict that does not apply to the question is None."""

    entry: Entry
    reply: Reply
    hit_at_1: bool | None
    hit_at_5: bool | None
    abstained_correctly: bool | None

    @property
    def answer(self) -> Answer | None:
        return self.reply if isinstance(self.reply, Answer) else None

    @property
    def failure(self) -> Failure | None:
        return self.reply if isinstance(self.reply, Failure) else None

    @property
    def wrongly_abstained(self) -> bool:
        """An answerable question the agent said it does not know."""
        return not self.entry.question.abstain and self.answer is not None and self.answer.abstained

    @property
    def grounded(self) -> bool | None:
        answer = self.answer
        return None if answer is None or answer.abstained else answer.grounded

    @property
    def latency_ms(self) -> float | None:
        return None if self.answer is None else self.answer.seconds * 1000


def score(entry: Entry, reply: Reply) -> Scored:
    question = entry.question
    citations = reply.citations if isinstance(reply, Answer) else ()
    if question.abstain:
        abstained = isinstance(reply, Answer) and reply.abstained
        return Scored(entry, reply, hit_at_1=None, hit_at_5=None, abstained_correctly=abstained)
    hits = [is_expected(citation, question) for citation in citations[:HIT_DEPTH]]
    return Scored(entry, reply, hit_at_1=hits[:1] == [True], hit_at_5=any(hits), abstained_correctly=None)


@dataclass(frozen=True, slots=True)
class Rate:
    hits: int
    total: int

    @property
    def value(self) -> float | None:
        """hits / total; None ("n/a") when nothing was measured."""
        return self.hits / self.total if self.total else None

    def reaches(self, minimum: float) -> bool:
        # Compared on counts: 19/20 reaches 0.95 even where 19 / 20 rounds below 0.95 in binary.
        return self.total > 0 and self.hits >= math.ceil(minimum * self.total - 1e-9)


def _rate(verdicts: Sequence[bool | None]) -> Rate:
    measured = [verdict for verdict in verdicts if verdict is not None]
    return Rate(sum(measured), len(measured))


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `percent`% of values at or below."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Summary:
    questions: int
    answerable: int
    off_topic: int
    failed: int
    hit_at_1: Rate
    hit_at_5: Rate
    abstention: Rate
    wrongly_abstained: int
    grounded: Rate
    p50_ms: float | None
    p95_ms: float | None


def summarise(results: Sequence[Scored]) -> Summary:
    latencies = [result.latency_ms for result in results if result.latency_ms is not None]
    return Summary(
        questions=len(results),
        answerable=sum(not result.entry.question.abstain for result in results),
        off_topic=sum(result.entry.question.abstain for result in results),
        failed=sum(result.failure is not None for result in results),
        hit_at_1=_rate([result.hit_at_1 for result in results]),
        hit_at_5=_rate([result.hit_at_5 for result in results]),
        abstention=_rate([result.abstained_correctly for result in results]),
        wrongly_abstained=sum(result.wrongly_abstained for result in results),
        grounded=_rate([result.grounded for result in results]),
        p50_ms=percentile(latencies, 50) if latencies else None,
        p95_ms=percentile(latencies, 95) if latencies else None,
    )


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What the command line requires; None: not checked."""

    min_hit_at_1: float | None = None
    min_hit_at_5: float | None = None
    min_abstention: float | None = None
    min_grounded: float | None = None
    max_p95_ms: float | None = None


def unmet(summary: Summary, thresholds: Thresholds) -> list[str]:
    """One line per threshold the summary misses; a metric that could not be measured misses its own."""
    problems: list[str] = []
    required = [
        ("citation hit@1", summary.hit_at_1, thresholds.min_hit_at_1),
        ("citation hit@5", summary.hit_at_5, thresholds.min_hit_at_5),
        ("correct abstentions", summary.abstention, thresholds.min_abstention),
        ("grounded answers", summary.grounded, thresholds.min_grounded),
    ]
    for name, rate, minimum in required:
        if minimum is None or rate.reaches(minimum):
            continue
        measured = "n/a" if rate.value is None else f"{rate.value:.3f} ({rate.hits}/{rate.total})"
        problems.append(f"{name} {measured} is below the required {minimum:g}")
    maximum = thresholds.max_p95_ms
    if maximum is not None and (summary.p95_ms is None or summary.p95_ms > maximum):
        measured = "n/a" if summary.p95_ms is None else f"{summary.p95_ms:.0f} ms"
        problems.append(f"latency p95 {measured} is above the allowed {maximum:g} ms")
    return problems
