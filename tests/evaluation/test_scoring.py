"""The metrics as functions of questions and replies: hit@k, abstentions, groundedness, latency, limits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from purpose_agent.evaluation.answers import Answer, Cited, Failure, Reply
from purpose_agent.evaluation.questions import Entry, Question
from purpose_agent.evaluation.scoring import (
    Rate,
    Scored,
    Thresholds,
    percentile,
    score,
    summarise,
    under_heading,
    unmet,
)

RIGHT = Cited("errors.md", "Errors > 413 Body or document too large")
SAME_FILE = Cited("errors.md", "Errors > 429 Too Many Requests")
OTHER_FILE = Cited("faq.md", "FAQ > 413 Body or document too large")


def entry(position: int = 1, **fields: Any) -> Entry:
    base: dict[str, Any] = {"agent_id": "support-agent", "question": "What does a 413 mean?"}
    if not fields.get("abstain"):
        base |= {"sources": ["errors.md"], "headings": ["413 Body or document too large"]}
    return Entry(position, Question.model_validate(base | fields))


def answer(*citations: Cited, abstained: bool = False, seconds: float = 0.1, **extra: Any) -> Answer:
    return Answer(citations=citations, abstained=abstained, model_used="m", seconds=seconds, **extra)


@pytest.mark.parametrize(
    ("path", "expected", "holds"),
    [
        ("Errors > 413 Body or document too large", "413 Body or document too large", True),
        ("Errors > 413 Body or document too large", "errors >  413 body or DOCUMENT too large", True),
        ("Guide > Breakers > Cooldown", "Breakers", True),
        ("Guide > Breakers > Cooldown", "Guide > Cooldown", False),
        ("Errors > 413 Body or document too large", "413 Body", False),
        ("", "Anything", False),
        ("Errors", "", False),
    ],
)
def test_a_heading_is_matched_as_whole_headings_in_a_run_of_the_path(
    path: str, expected: str, holds: bool
) -> None:
    assert under_heading(path, expected) is holds


def test_hit_at_1_looks_at_the_first_citation_and_hit_at_5_at_the_first_five() -> None:
    assert (score(entry(), answer(RIGHT, SAME_FILE)).hit_at_1, score(entry(), answer(RIGHT)).hit_at_5) == (
        True,
        True,
    )
    second = score(entry(), answer(SAME_FILE, RIGHT))
    assert (second.hit_at_1, second.hit_at_5) == (False, True)
    sixth = score(entry(), answer(*[SAME_FILE] * 5, RIGHT))
    assert (sixth.hit_at_1, sixth.hit_at_5) == (False, False)


def test_a_citation_must_meet_every_expectation_the_entry_gives() -> None:
    assert score(entry(), answer(OTHER_FILE)).hit_at_5 is False, "the right heading in another source"
    assert score(entry(), answer(SAME_FILE)).hit_at_5 is False, "the right source under another heading"
    assert score(entry(headings=[]), answer(SAME_FILE)).hit_at_5 is True, "sources only"
    assert score(entry(sources=[]), answer(OTHER_FILE)).hit_at_5 is True, "headings only"
    assert score(entry(sources=["faq.md", "errors.md"]), answer(OTHER_FILE)).hit_at_1 is True


def test_an_answerable_question_that_abstains_or_fails_misses_and_is_counted() -> None:
    abstained = score(entry(), answer(abstained=True))
    failed = score(entry(), Failure(503, "every model failed"))
    for result in (abstained, failed):
        assert (result.hit_at_1, result.hit_at_5, result.abstained_correctly) == (False, False, None)
    assert abstained.wrongly_abstained
    assert not failed.wrongly_abstained
    assert failed.latency_ms is None


def test_an_off_topic_question_is_judged_only_on_abstaining() -> None:
    right = score(entry(abstain=True), answer(abstained=True))
    wrong = score(entry(abstain=True), answer(RIGHT))
    failed = score(entry(abstain=True), Failure(None, "no answer within 5 s"))
    assert (right.hit_at_1, right.hit_at_5, right.abstained_correctly) == (None, None, True)
    assert (wrong.abstained_correctly, failed.abstained_correctly) == (False, False)


def test_the_summary_counts_each_metric_over_the_questions_it_applies_to() -> None:
    results = [
        score(entry(1), answer(RIGHT, seconds=0.2, grounded=True, unsupported=())),
        score(entry(2), answer(SAME_FILE, RIGHT, seconds=0.4, grounded=False, unsupported=("a claim",))),
        score(entry(3), answer(SAME_FILE, seconds=0.3)),
        score(entry(4), Failure(500, "boom")),
        score(entry(5, abstain=True), answer(abstained=True, seconds=0.01)),
        score(entry(6, abstain=True), answer(RIGHT, seconds=0.5)),
    ]
    summary = summarise(results)
    assert (summary.questions, summary.answerable, summary.off_topic, summary.failed) == (6, 4, 2, 1)
    assert summary.hit_at_1 == Rate(1, 4)
    assert summary.hit_at_5 == Rate(2, 4)
    assert summary.abstention == Rate(1, 2)
    assert summary.grounded == Rate(1, 2), "over the answers that report it"
    assert summary.p50_ms == pytest.approx(300)
    assert summary.p95_ms == pytest.approx(500)


def test_groundedness_is_not_available_when_no_answer_reports_it() -> None:
    summary = summarise([score(entry(), answer(RIGHT)), score(entry(abstain=True), answer(abstained=True))])
    assert summary.grounded == Rate(0, 0)
    assert summary.grounded.value is None
    assert unmet(summary, Thresholds(min_grounded=1.0)) == ["grounded answers n/a is below the required 1"]


def test_thresholds_compare_counts_so_that_an_exact_share_meets_its_minimum() -> None:
    results = [score(entry(n), answer(RIGHT if n > 1 else SAME_FILE)) for n in range(1, 21)]
    summary = summarise(results)
    assert unmet(summary, Thresholds(min_hit_at_5=0.95, min_hit_at_1=0.95)) == []
    assert unmet(summary, Thresholds(min_hit_at_5=0.96, max_p95_ms=50)) == [
        "citation hit@5 0.950 (19/20) is below the required 0.96",
        "latency p95 100 ms is above the allowed 50 ms",
    ]
    assert unmet(summary, Thresholds(min_abstention=1.0)) == [
        "correct abstentions n/a is below the required 1"
    ], "a required metric the set cannot measure is not met"


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1), st.floats(min_value=0, max_value=100))
def test_a_percentile_is_one_of_the_values_and_covers_that_share_of_them(
    values: list[float], percent: float
) -> None:
    value = percentile(values, percent)
    assert value in values
    assert sum(v <= value for v in values) >= percent / 100 * len(values)
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1), st.floats(0, 100), st.floats(0, 100))
def test_a_percentile_grows_with_the_share(values: list[float], low: float, high: float) -> None:
    low, high = sorted((low, high))
    assert percentile(values, low) <= percentile(values, high)


verdicts = st.sampled_from(["right", "same-file", "abstained", "failed"])


def _reply(kind: str, position: int) -> Reply:
    replies: dict[str, Reply] = {
        "right": answer(RIGHT, seconds=position / 100),
        "same-file": answer(SAME_FILE, RIGHT, seconds=position / 100),
        "abstained": answer(abstained=True, seconds=position / 100),
        "failed": Failure(502, "cut"),
    }
    return replies[kind]


@given(st.lists(st.tuples(st.booleans(), verdicts), min_size=1, max_size=40))
def test_rates_stay_within_their_questions_and_hit_at_5_never_trails_hit_at_1(
    plan: list[tuple[bool, str]],
) -> None:
    results: list[Scored] = [
        score(entry(position, abstain=off_topic), _reply(kind, position))
        for position, (off_topic, kind) in enumerate(plan, start=1)
    ]
    summary = summarise(results)
    assert summary.hit_at_1.hits <= summary.hit_at_5.hits <= summary.hit_at_5.total == summary.answerable
    assert summary.abstention.hits <= summary.abstention.total == summary.off_topic
    assert summary.answerable + summary.off_topic == len(plan)
    for rate in (summary.hit_at_1, summary.hit_at_5, summary.abstention):
        assert rate.value is None or 0 <= rate.value <= 1
    if summary.p50_ms is not None:
        assert summary.p95_ms is not None
        assert summary.p50_ms <= summary.p95_ms
