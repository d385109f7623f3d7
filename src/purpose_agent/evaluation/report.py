"""The results for people (a plain-text table, a row per question as it comes) and for programs (JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from purpose_agent.evaluation.questions import Entry
from purpose_agent.evaluation.scoring import HEADING_SEPARATOR, Rate, Scored, Summary, Thresholds

NOTE_WIDTH = 70


def _mark(verdict: bool | None) -> str:
    return "-" if verdict is None else ("yes" if verdict else "no")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _clip(text: str, width: int = NOTE_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True, slots=True)
class Table:
    """Columns sized for a question set, so that rows can be printed one by one as answers arrive."""

    name_width: int
    agent_width: int

    @classmethod
    def for_entries(cls, entries: Sequence[Entry]) -> Table:
        return cls(
            name_width=max([len("entry"), *(len(entry.name) for entry in entries)]),
            agent_width=max([len("agent"), *(len(entry.question.agent_id) for entry in entries)]),
        )

    def _line(self, name: str, agent: str, *cells: str) -> str:
        hit_1, hit_5, abstained, grounded, ms, note = cells
        return (
            f"{name:<{self.name_width}}  {agent:<{self.agent_width}}  {hit_1:<5}  {hit_5:<5}  "
            f"{abstained:<9}  {grounded:<8}  {ms:>7}  {note}"
        ).rstrip()

    def header(self) -> str:
        return self._line("entry", "agent", "hit@1", "hit@5", "abstained", "grounded", "ms", "first citation")

    def row(self, result: Scored) -> str:
        answer, failure = result.answer, result.failure
        if failure is not None:
            status = "no reply" if failure.status is None else str(failure.status)
            note = f"error {status}: {failure.detail}"
        elif answer is not None and answer.citations:
            first = answer.citations[0]
            # The section alone: the path's first heading is the document's title, which the source names.
            section = first.heading.rsplit(HEADING_SEPARATOR, 1)[-1]
            note = f"{first.source}: {section}" if section else first.source
        else:
            note = ""
        grounded = "n/a" if result.grounded is None else _mark(result.grounded)
        abstained = "-" if answer is None else _mark(answer.abstained)
        if result.abstained_correctly is False or result.wrongly_abstained:
            abstained += " !"
        entry = result.entry
        return self._line(
            entry.name,
            entry.question.agent_id,
            _mark(result.hit_at_1),
            _mark(result.hit_at_5),
            abstained,
            grounded,
            _ms(result.latency_ms),
            _clip(note),
        )


def _rate(rate: Rate) -> str:
    return "n/a" if rate.value is None else f"{rate.value:.3f}  ({rate.hits}/{rate.total})"


def summary_lines(summary: Summary, url: str, problems: Sequence[str]) -> list[str]:
    grounded = _rate(summary.grounded)
    if summary.grounded.value is None:
        grounded += "  (the service reports no groundedness)"
    latency = (
        "n/a" if summary.p50_ms is None else f"{_ms(summary.p50_ms)} / {_ms(summary.p95_ms)} ms (p50 / p95)"
    )
    measured = [
        ("citation hit@1", _rate(summary.hit_at_1)),
        ("citation hit@5", _rate(summary.hit_at_5)),
        ("correct abstentions", _rate(summary.abstention)),
        ("abstained but answerable", str(summary.wrongly_abstained)),
        ("grounded answers", grounded),
        ("latency", latency),
    ]
    lines = [
        f"{summary.questions} questions against {url}: {summary.answerable} answerable, "
        f"{summary.off_topic} off-topic, {summary.failed} failed",
        *(f"  {name:<26}{value}" for name, value in measured),
    ]
    lines += [f"FAILED: {problem}" for problem in problems] or ["passed"]
    return lines


def _rounded(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 1)


def _rate_json(rate: Rate) -> dict[str, Any]:
    return {"value": rate.value, "hits": rate.hits, "total": rate.total}


def _result_json(result: Scored) -> dict[str, Any]:
    question, answer, failure = result.entry.question, result.answer, result.failure
    return {
        "position": result.entry.position,
        "id": question.id,
        "agent_id": question.agent_id,
        "question": question.question,
        "expected": {"sources": question.sources, "headings": question.headings, "abstain": question.abstain},
        "hit_at_1": result.hit_at_1,
        "hit_at_5": result.hit_at_5,
        "abstained": None if answer is None else answer.abstained,
        "abstained_correctly": result.abstained_correctly,
        "grounded": result.grounded,
        "unsupported": None if answer is None or answer.unsupported is None else list(answer.unsupported),
        "latency_ms": _rounded(result.latency_ms),
        "model_used": None if answer is None else answer.model_used,
        "citations": [] if answer is None else [asdict(citation) for citation in answer.citations],
        "error": None if failure is None else {"status": failure.status, "detail": failure.detail},
    }


def as_json(
    source: str,
    url: str,
    results: Sequence[Scored],
    summary: Summary,
    thresholds: Thresholds,
    problems: Sequence[str],
) -> dict[str, Any]:
    """Everything the table shows and more (every citation, the unsupported claims), for a program."""
    return {
        "file": source,
        "url": url,
        "passed": not problems,
        "unmet": list(problems),
        "thresholds": asdict(thresholds),
        "summary": {
            "questions": summary.questions,
            "answerable": summary.answerable,
            "off_topic": summary.off_topic,
            "failed": summary.failed,
            "hit_at_1": _rate_json(summary.hit_at_1),
            "hit_at_5": _rate_json(summary.hit_at_5),
            "abstention": _rate_json(summary.abstention),
            "wrongly_abstained": summary.wrongly_abstained,
            "grounded": _rate_json(summary.grounded),
            "latency_ms": {"p50": _rounded(summary.p50_ms), "p95": _rounded(summary.p95_ms)},
        },
        "questions": [_result_json(result) for result in results],
    }
