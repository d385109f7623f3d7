"""Question sets: read from JSON or YAML, validated whole, each problem one line naming file, entry, field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from purpose_agent.evaluation.questions import QuestionSetInvalid, read_question_set, unknown_agents, validate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT_ROOT / "eval" / "sample-agents.yaml"


def answerable(**fields: Any) -> dict[str, Any]:
    return {"agent_id": "support-agent", "question": "What does a 413 mean?", "sources": ["faq.md"]} | fields


def errors_of(*entries: object, source: str = "eval/set.yaml") -> list[str]:
    with pytest.raises(QuestionSetInvalid) as raised:
        validate({"questions": list(entries)}, source)
    return raised.value.errors


def test_entries_keep_their_order_and_are_named_by_id_or_position() -> None:
    question_set = validate(
        {"questions": [answerable(id="first"), {"agent_id": "a", "question": "q?", "abstain": True}]},
        "x.json",
    )
    assert [entry.name for entry in question_set.entries] == ["first", "#2"]
    assert question_set.entries[1].question.abstain


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (answerable(colour="blue"), "entry #1: colour: Extra inputs are not permitted"),
        ({"agent_id": "support-agent", "sources": ["faq.md"]}, "entry #1: question: Field required"),
        (answerable(question="   "), "entry #1: question: String should have at least 1 character"),
        (answerable(sources="faq.md"), "entry #1: sources: Input should be a valid list"),
        (answerable(abstain="no"), "entry #1: abstain: Input should be a valid boolean"),
        (answerable(agent_id=7), "entry #1: agent_id: Input should be a valid string"),
        (answerable(sources=["faq.md", 3]), "entry #1: sources.1: Input should be a valid string"),
        (
            answerable(abstain=True),
            "entry #1: abstain: a question that must abstain expects no sources or headings",
        ),
        (
            answerable(sources=[]),
            "entry #1: sources: give the expected sources and/or headings, or abstain: true",
        ),
        ("What is a persona?", "entry #1: should be an object of fields"),
    ],
)
def test_a_malformed_entry_is_one_line_naming_file_entry_and_field(entry: object, error: str) -> None:
    assert errors_of(entry) == [f"eval/set.yaml: {error}"]


def test_an_entry_with_an_id_is_named_by_it_and_every_problem_of_the_file_is_listed() -> None:
    assert errors_of(
        answerable(id="reset"),
        answerable(id="413", headings=[1]),
        answerable(),
        answerable(id="reset"),
        answerable(question=None),
    ) == [
        "eval/set.yaml: entry '413': headings.0: Input should be a valid string",
        "eval/set.yaml: entry 'reset': id: also the id of entry #1",
        "eval/set.yaml: entry #5: question: Input should be a valid string",
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([answerable()], 'should hold an object: {"questions": [...]}'),
        ({"questions": []}, "questions: List should have at least 1 item after validation, not 0"),
        ({"questions": [answerable()], "version": 2}, "version: Extra inputs are not permitted"),
        ({"entries": [answerable()]}, "questions: Field required"),
    ],
)
def test_a_file_of_the_wrong_shape_is_named(data: object, error: str) -> None:
    with pytest.raises(QuestionSetInvalid) as raised:
        validate(data, "set.json")
    assert raised.value.errors[0] == f"set.json: {error}"


def test_json_and_yaml_files_are_read_by_their_names(tmp_path: Path) -> None:
    as_json = tmp_path / "set.json"
    as_json.write_text(json.dumps({"questions": [answerable(id="a")]}))
    as_yaml = tmp_path / "set.yml"
    as_yaml.write_text(
        "questions:\n  - id: a\n    agent_id: support-agent\n    question: Hi?\n    abstain: yes"
    )
    assert read_question_set(as_json).entries[0].question.sources == ["faq.md"]
    assert read_question_set(as_yaml).entries[0].question.abstain is True


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        (
            "set.json",
            "questions:\n  - agent_id: a\n",
            "is not valid JSON: Expecting value (line 1, column 1)",
        ),
        ("set.yaml", "questions: [unclosed\n", "is not valid YAML: "),
        ("set.txt", "just some notes", "is not valid JSON: Expecting value (line 1, column 1)"),
    ],
)
def test_a_file_that_is_not_json_or_yaml_is_one_line(
    tmp_path: Path, name: str, text: str, error: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(QuestionSetInvalid) as raised:
        read_question_set(path)
    [line] = raised.value.errors
    assert line.startswith(f"{path}: {error}")


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(QuestionSetInvalid) as raised:
        read_question_set(tmp_path / "nowhere.yaml")
    assert raised.value.errors == [f"{tmp_path / 'nowhere.yaml'}: cannot be read: No such file or directory"]


def test_entries_naming_an_agent_the_service_lacks_are_each_one_line() -> None:
    question_set = validate(
        {
            "questions": [
                answerable(id="ok"),
                answerable(agent_id="nobody"),
                answerable(id="x", agent_id="ghost"),
            ]
        },
        "set.yaml",
    )
    assert unknown_agents(question_set, {"support-agent", "general-assistant"}, "http://h:1") == [
        "entry #2: agent_id: no agent 'nobody' at http://h:1 (it has: general-assistant, support-agent)",
        "entry 'x': agent_id: no agent 'ghost' at http://h:1 (it has: general-assistant, support-agent)",
    ]


def _section_titles(path: Path) -> set[str]:
    """The headings a sample document's citations can show: Markdown `#` lines and HTML h1-h6."""
    text = path.read_text(encoding="utf-8")
    titles = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    for level in range(1, 7):
        titles |= {part.split(f"</h{level}>")[0] for part in text.split(f"<h{level}>")[1:]}
    return titles


def test_the_shipped_set_asks_each_sample_agent_about_its_own_documents_and_off_topic_questions() -> None:
    personas = json.loads((PROJECT_ROOT / "config" / "personas.json").read_text())["personas"]
    category_of = {persona["id"]: persona["knowledge_category"] for persona in personas}
    entries = read_question_set(SHIPPED).entries
    assert len(entries) >= 40
    assert {entry.question.agent_id for entry in entries} == set(category_of)

    for entry in entries:
        question = entry.question
        folder = PROJECT_ROOT / "knowledge" / category_of[question.agent_id]
        documents = [folder / source for source in question.sources]
        assert all(document.is_file() for document in documents), f"{entry.name}: a source outside {folder}"
        titles = set().union(*(_section_titles(document) for document in documents))
        assert set(question.headings) <= titles, f"{entry.name}: a heading its sources do not have"

    off_topic = [entry for entry in entries if entry.question.abstain]
    assert len(off_topic) >= 8
    assert {entry.question.agent_id for entry in off_topic} == set(category_of), "every agent must abstain"
