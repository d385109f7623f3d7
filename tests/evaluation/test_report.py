"""The table a person reads and the JSON a program reads, from scored results."""

from __future__ import annotations

from purpose_agent.evaluation.answers import Answer, Cited, Failure
from purpose_agent.evaluation.questions import Entry, Question
from purpose_agent.evaluation.report import Table, as_json, summary_lines
from purpose_agent.evaluation.scoring import Thresholds, score, summarise, unmet

ANSWERABLE = Entry(
    1,
    Question(id="q413", agent_id="support-agent", question="What is a 413?", sources=["errors.md"]),
)
OFF_TOPIC = Entry(2, Question(agent_id="support-agent", question="Best risotto?", abstain=True))
CITED = Cited("errors.md", "Errors and troubleshooting > 413 Body or document too large")


def test_a_row_shows_the_verdicts_the_latency_and_the_first_citation_s_section() -> None:
    table = Table.for_entries([ANSWERABLE, OFF_TOPIC])
    answered = score(ANSWERABLE, Answer((CITED,), abstained=False, model_used="m", seconds=0.812))
    assert table.header().split() == [
        *("entry", "agent", "hit@1", "hit@5", "abstained", "grounded", "ms", "first", "citation"),
    ]
    assert table.row(answered).split() == [
        *("q413", "support-agent", "yes", "yes", "no", "n/a", "812"),
        *("errors.md:", "413", "Body", "or", "document", "too", "large"),
    ]


def test_a_wrong_abstention_is_marked_and_a_failure_shows_its_status() -> None:
    table = Table.for_entries([ANSWERABLE, OFF_TOPIC])
    answered = score(OFF_TOPIC, Answer((CITED,), abstained=False, model_used="m", seconds=0.1, grounded=True))
    failed = score(ANSWERABLE, Failure(503, "Every model failed."))
    assert table.row(answered).split()[:7] == ["#2", "support-agent", "-", "-", "no", "!", "yes"]
    assert table.row(failed).split() == [
        *("q413", "support-agent", "no", "no", "-", "n/a", "-"),
        *("error", "503:", "Every", "model", "failed."),
    ]


def test_the_summary_and_the_json_say_which_threshold_was_missed() -> None:
    results = [
        score(ANSWERABLE, Answer((CITED,), abstained=False, model_used="m", seconds=0.2)),
        score(OFF_TOPIC, Answer((CITED,), abstained=False, model_used="m", seconds=0.3)),
    ]
    summary = summarise(results)
    thresholds = Thresholds(min_abstention=1.0)
    problems = unmet(summary, thresholds)
    lines = summary_lines(summary, "http://h:1", problems)
    assert lines[0] == "2 questions against http://h:1: 1 answerable, 1 off-topic, 0 failed"
    assert "  correct abstentions       0.000  (0/1)" in lines
    assert "  grounded answers          n/a  (the service reports no groundedness)" in lines
    assert lines[-1] == "FAILED: correct abstentions 0.000 (0/1) is below the required 1"

    document = as_json("set.yaml", "http://h:1", results, summary, thresholds, problems)
    assert document["passed"] is False
    assert document["summary"]["abstention"] == {"value": 0.0, "hits": 0, "total": 1}
    assert document["summary"]["latency_ms"] == {"p50": 200.0, "p95": 300.0}
    assert document["questions"][0]["citations"] == [{"source": CITED.source, "heading": CITED.heading}]
    assert document["questions"][1]["abstained_correctly"] is False
