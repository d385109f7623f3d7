"""The last tier: when every model fails, quote the most relevant passages with their citations.

It calls nothing and cannot fail, so a user with retrieved knowledge always gets an answer,
labelled `model_used = "extractive"` so that no one mistakes it for a model's.
"""

from __future__ import annotations

from collections.abc import Sequence

from purpose_agent.chat.passages import Passage, origin
from purpose_agent.llm.errors import Attempt
from purpose_agent.llm.router import RoutedAnswer
from purpose_agent.llm.types import Usage

EXTRACTIVE_MODEL = "extractive"
INTRODUCTION = (
    "No language model is reachable right now. These passages of the knowledge base match your question:"
)
MAX_QUOTE_CHARS = 600


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1].rstrip() + "…"


def extractive_answer(passages: Sequence[Passage], limit: int = 3) -> str:
    """The best `limit` passages by score, each quoted with its citation number and origin."""
    best = sorted(passages, key=lambda passage: passage.score, reverse=True)[:limit]
    lines = [INTRODUCTION, ""]
    lines += [f'[{passage.index}] "{_quote(passage.text)}" ({origin(passage)})' for passage in best]
    return "\n".join(lines)


def quoted(passages: Sequence[Passage], attempts: Sequence[Attempt]) -> RoutedAnswer:
    """The answer every model failed to give: the passages quoted, free, after the failed `attempts`."""
    return RoutedAnswer(extractive_answer(passages), Usage(), EXTRACTIVE_MODEL, tuple(attempts), 0.0)
