"""A run: every agent the set names checked first, then each question asked in turn and scored."""

from __future__ import annotations

from collections.abc import Callable

from purpose_agent.evaluation.client import ServiceClient
from purpose_agent.evaluation.questions import QuestionSet, QuestionSetInvalid, unknown_agents
from purpose_agent.evaluation.scoring import Scored, score


def check_agents(question_set: QuestionSet, client: ServiceClient) -> None:
    """Raise QuestionSetInvalid, before any question is asked, when an entry names an unknown agent."""
    problems = unknown_agents(question_set, client.agents(), client.url)
    if problems:
        raise QuestionSetInvalid(question_set.source, problems)


def run(
    question_set: QuestionSet, client: ServiceClient, on_result: Callable[[Scored], None]
) -> list[Scored]:
    """Ask each question in turn, one at a time (so that latencies are not each other's queueing)."""
    results: list[Scored] = []
    for entry in question_set.entries:
        result = score(entry, client.ask(entry.question.agent_id, entry.question.question))
        on_result(result)
        results.append(result)
    return results
