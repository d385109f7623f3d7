"""Question sets: `{"questions": [...]}` in JSON, or YAML when named .yaml/.yml, validated whole.

Each entry names an agent and a question and says what a good answer looks like: the `sources`
(document names) and/or `headings` its citations should come from, or `abstain: true` for a question
the agent's knowledge does not cover. A file is checked in full before anything is asked; each problem
is one line naming the file, the entry (its `id`, or its 1-based position) and the field.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from purpose_agent.kit.data_files import DataFileUnreadable, field_error, read_data_file

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class QuestionSetInvalid(Exception):
    """A question set that cannot be run; `errors` holds one line per problem, each naming the file."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.errors = [f"{source}: {problem}" for problem in problems]
        super().__init__("\n".join(self.errors))


class Question(BaseModel):
    """One entry of a question set."""

    # Strict: `sources: faq.md` (a string, not a list) or `abstain: "no"` is an error, never a guess.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Text | None = None
    agent_id: Text
    question: Text
    sources: list[Text] = []
    headings: list[Text] = []
    abstain: bool = False


def _expectation_problem(question: Question) -> str | None:
    """What is wrong with what the entry expects, named by field; None when it expects one thing."""
    expected = bool(question.sources or question.headings)
    if question.abstain and expected:
        return "abstain: a question that must abstain expects no sources or headings"
    if not question.abstain and not expected:
        return "sources: give the expected sources and/or headings, or abstain: true"
    return None


class _FileShape(BaseModel):
    model_config = ConfigDict(extra="forbid")

    questions: list[Any] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Entry:
    """A question and its 1-based position in the file."""

    position: int
    question: Question

    @property
    def name(self) -> str:
        """What names the entry in reports: its id, else its position."""
        return self.question.id or f"#{self.position}"

    @property
    def label(self) -> str:
        """What names the entry in an error line: its id quoted, else its position."""
        return f"'{self.question.id}'" if self.question.id else f"#{self.position}"


@dataclass(frozen=True, slots=True)
class QuestionSet:
    source: str
    entries: tuple[Entry, ...]


def read_question_set(path: Path) -> QuestionSet:
    """The entries of a question-set file, every one valid, or every problem at once."""
    try:
        data = read_data_file(path)
    except DataFileUnreadable as exc:
        raise QuestionSetInvalid(str(path), [str(exc)]) from None
    return validate(data, str(path))


def validate(data: object, source: str) -> QuestionSet:
    """The entries of a parsed question set; `source` names the file in errors."""
    if not isinstance(data, dict):
        raise QuestionSetInvalid(source, ['should hold an object: {"questions": [...]}'])
    try:
        raw_entries = _FileShape.model_validate(data).questions
    except ValidationError as exc:
        raise QuestionSetInvalid(source, [field_error(error) for error in exc.errors()]) from None

    problems: list[str] = []
    entries: list[Entry] = []
    first_position: dict[str, int] = {}
    for position, raw in enumerate(raw_entries, start=1):
        entry_id = raw.get("id") if isinstance(raw, dict) else None
        label = f"'{entry_id}'" if isinstance(entry_id, str) and entry_id.strip() else f"#{position}"
        if not isinstance(raw, dict):
            problems.append(f"entry {label}: should be an object of fields")
            continue
        try:
            question = Question.model_validate(raw)
        except ValidationError as exc:
            problems.extend(f"entry {label}: {field_error(error)}" for error in exc.errors())
            continue
        if problem := _expectation_problem(question):
            problems.append(f"entry {label}: {problem}")
        if question.id is not None:
            if question.id in first_position:
                problems.append(f"entry {label}: id: also the id of entry #{first_position[question.id]}")
            first_position.setdefault(question.id, position)
        entries.append(Entry(position, question))
    if problems:
        raise QuestionSetInvalid(source, problems)
    return QuestionSet(source, tuple(entries))


def unknown_agents(question_set: QuestionSet, agents: Collection[str], url: str) -> list[str]:
    """A problem per entry whose agent the service at `url` does not have (`agents`, as it listed them)."""
    listed = ", ".join(sorted(agents)) or "none"
    return [
        f"entry {entry.label}: agent_id: no agent '{entry.question.agent_id}' at {url} (it has: {listed})"
        for entry in question_set.entries
        if entry.question.agent_id not in agents
    ]
