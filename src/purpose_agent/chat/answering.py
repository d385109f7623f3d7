"""Who answers a question, and whether a model's answer stands: the decisions of the call phase.

A question with passages is answered by the remote models of its chain. The built-in model joins
them only with LLM_LOCAL_ANSWERS=true: it is tiny, and left to itself it contradicts the passages it
was given, so without a remote model the passages are quoted instead (`chat.extractive`), in well
under a second. A persona without retrieval has nothing to quote: every model of its chain answers.

Every model answer to a question with passages is checked against them (`chat.grounding`) before
its route is recorded. A remote model's answer stands either way, its unsupported sentences
reported; the built-in model's answer is replaced by the quoted passages when it fails the check,
so its text is held back until it is checked (`holds_back`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from purpose_agent.chat.extractive import ExtractiveReason
from purpose_agent.chat.grounding import check_answer
from purpose_agent.chat.passages import Passage
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.llm.router import AnswerCheck, LLMRouter, RoutedAnswer
from purpose_agent.llm.types import Grounding
from purpose_agent.vocabulary import BUILT_IN_PROVIDER


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer as routed, and why it was quoted when it was."""

    routed: RoutedAnswer
    quoted_because: ExtractiveReason | None = None


def answering_chain(
    router: LLMRouter, chain: Sequence[str] | None, *, local_answers: bool, has_passages: bool
) -> list[str]:
    """The configured providers to ask, in order (the persona's chain, else the default one); empty
    when the passages are to be quoted without asking any."""
    names = [provider.name for provider in router.chain(chain)]
    if has_passages and not local_answers:
        return [name for name in names if name != BUILT_IN_PROVIDER]
    return names


def grounding_check(embedder: Embedder, passages: Sequence[Passage]) -> AnswerCheck | None:
    """The check of a model's answer against its passages; None without passages (nothing to check)."""
    if not passages:
        return None

    async def check(text: str) -> Grounding:
        return await check_answer(text, passages, embedder)

    return check


def holds_back(provider: str) -> bool:
    """True when a provider's text is to be shown only once checked: it may yet be replaced."""
    return provider == BUILT_IN_PROVIDER


def replaced(answer: RoutedAnswer) -> bool:
    """True when the answer is to be replaced by quotes: the built-in model's, and found unsupported."""
    provider = answer.model_used.partition("/")[0]
    return holds_back(provider) and answer.grounding.grounded is False
