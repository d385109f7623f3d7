"""Answers quoted from the passages: the sentences that answer the question, with their citation marks.

Quoting cannot contradict the knowledge, and it costs one embedding run instead of a generation: it
is the default answer when no remote model is configured (the built-in model answers only with
LLM_LOCAL_ANSWERS=true), the answer when every model fails, and the one that replaces a built-in
model's answer that fails the groundedness check. It is labelled `model_used = "extractive"` so that
no one mistakes it for a model's words, and a short lead-in says why it was quoted.

Each sentence of the passages (`sentences.passage_sentences`) is scored against the question:

    cosine(question, sentence)                                   the embedder already loaded for search
    + 0.25 x the share of the question's content words in the sentence
    + 0.5  x their share in the heading of the sentence's section  ("413 Body or document too large")
    - 0.05 x the passage's rank                                  search ranked it for the whole question

The best sentence is quoted with the sentence after it in its passage ("A 413 means … refused
before it was processed. The detail states the limit in bytes."), then any other sentence scoring
within 0.1 of the best, three sentences at most; a sentence twice (chunks overlap) is quoted once.
Quotes are grouped by passage, best passage first, each in its passage's order.

Measured with `.venv/bin/python bench/grounding.py` on the hand-written questions of
`bench/grounding_cases.py` (34, over the four sample categories): the sentence that answers is among
the quotes for 30 and is the best-scored for 23 (cosine similarity alone: 21). Answers average 275
characters (at most 571); choosing the quotes, embedding included, takes 150 ms (median; p95 270 ms)
on one thread of a loaded 2-core machine. The weights were chosen on these same questions.
When the embedder fails, the scores are the lexical ones alone: extraction never fails for want of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

import structlog

from purpose_agent.chat.passages import Passage, headings
from purpose_agent.chat.sentences import passage_sentences
from purpose_agent.chat.similarity import cosines
from purpose_agent.chat.terms import content_words
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.llm.errors import Attempt
from purpose_agent.llm.router import RoutedAnswer
from purpose_agent.llm.types import Grounding, Usage

log = structlog.get_logger("purpose_agent.chat")

EXTRACTIVE_MODEL = "extractive"


class ExtractiveReason(StrEnum):
    """Why an answer was quoted rather than written by a model."""

    default = "default"  # no remote model configured, and the built-in one not asked to answer
    models_failed = "models_failed"  # every model of the chain failed
    ungrounded = "ungrounded"  # the built-in model's answer was not supported by the passages


LEAD_INS = {
    ExtractiveReason.default: "From the knowledge base:",
    ExtractiveReason.models_failed: "No language model is reachable right now. From the knowledge base:",
    ExtractiveReason.ungrounded: (
        "The built-in model's answer was not supported by the knowledge base, so here it is quoted instead:"
    ),
}
# A quote is cut here, so that one long table row or list cannot make the answer a page.
MAX_QUOTE_CHARS = 400
OMISSION = " \u2026 "


@dataclass(frozen=True, slots=True)
class ExtractionPolicy:
    """How sentences are scored and chosen (see the module docstring for why these numbers)."""

    lexical_weight: float = 0.25
    heading_weight: float = 0.5
    rank_penalty: float = 0.05
    margin: float = 0.1
    max_sentences: int = 3
    follow: int = 1


@dataclass(frozen=True, slots=True)
class Quote:
    """A sentence of a passage, where it stands in it, and how well it answers the question."""

    passage: Passage
    position: int
    text: str
    score: float


async def choose_quotes(
    question: str,
    passages: Sequence[Passage],
    embedder: Embedder,
    policy: ExtractionPolicy = ExtractionPolicy(),
    *,
    follows: str = "",
) -> list[Quote]:
    """The sentences of `passages` that answer `question` best, in the order they are to be quoted.

    `follows`: the question it follows in its conversation, which names what "it" is. Its words count
    in the headings only: "How do I fix it?" after "What does a 413 mean?" quotes the fix under the
    heading "413 …" rather than another section's fix, or the 413's meaning again (which joining the
    two questions for the similarity did)."""
    candidates = [
        (rank, passage, position, sentence)
        for rank, passage in enumerate(passages)
        # A passage with no sentence (all code, a lone heading) is a quote of its own.
        for position, sentence in enumerate(
            passage_sentences(passage.text, headings(passage)) or [" ".join(passage.text.split())]
        )
    ]
    if not candidates:
        return []
    similarities = await _similarities(question, [sentence for *_, sentence in candidates], embedder)
    asked = content_words(question)
    topic = asked | content_words(follows)
    scored = [
        Quote(
            passage,
            position,
            sentence,
            similarity
            + policy.lexical_weight * _share(asked, content_words(sentence))
            + policy.heading_weight * _share(topic, content_words(" ".join(headings(passage)[-1:])))
            - policy.rank_penalty * rank,
        )
        for (rank, passage, position, sentence), similarity in zip(candidates, similarities, strict=True)
    ]
    return _arranged(_chosen(scored, policy))


def compose(quotes: Sequence[Quote], reason: ExtractiveReason) -> str:
    """The answer's text: the lead-in, then each passage's quotes in quotation marks with its [n]."""
    paragraphs = [LEAD_INS[reason]]
    for group in _by_passage(quotes):
        pieces = [_cut(group[0].text)]
        for before, quote in pairwise(group):
            pieces.append((" " if quote.position == before.position + 1 else OMISSION) + _cut(quote.text))
        paragraphs.append(f'"{"".join(pieces)}" [{group[0].passage.index}]')
    return "\n\n".join(paragraphs)


async def extractive_answer(
    question: str,
    passages: Sequence[Passage],
    embedder: Embedder,
    reason: ExtractiveReason,
    attempts: Sequence[Attempt] = (),
    *,
    follows: str = "",
) -> RoutedAnswer:
    """The quoted answer, free, after the failed `attempts` if any (`follows` as for `choose_quotes`).
    Every sentence but the lead-in is quoted verbatim from its passage, so it is grounded by
    construction."""
    text = compose(await choose_quotes(question, passages, embedder, follows=follows), reason)
    return RoutedAnswer(text, Usage(), EXTRACTIVE_MODEL, tuple(attempts), 0.0, Grounding(grounded=True))


async def _similarities(question: str, sentences: list[str], embedder: Embedder) -> list[float]:
    try:
        vectors = await embedder.embed([question, *sentences])
    except Exception:
        # Quoting is the answer of last resort: with the embedder busy or down, words alone choose.
        log.warning("extraction_without_embeddings", exc_info=True)
        return [0.0] * len(sentences)
    return cosines(vectors[:1], vectors[1:])[0]


def _share(asked: set[str], words: set[str]) -> float:
    return len(asked & words) / len(asked) if asked else 0.0


def _chosen(scored: list[Quote], policy: ExtractionPolicy) -> list[Quote]:
    ranked = sorted(scored, key=lambda quote: quote.score, reverse=True)
    best = ranked[0]
    chosen = [best]
    following = [
        quote
        for quote in scored
        if quote.passage.index == best.passage.index
        and best.position < quote.position <= best.position + policy.follow
    ]
    for quote in [*following, *ranked[1:]]:
        if len(chosen) >= policy.max_sentences:
            break
        if quote in following or quote.score >= best.score - policy.margin:
            if all(quote.text != other.text for other in chosen):
                chosen.append(quote)
        else:
            break
    return chosen


def _arranged(chosen: list[Quote]) -> list[Quote]:
    # Passages in the order of their best quote (the first chosen is the best); quotes in passage order.
    first: dict[int, int] = {}
    for number, quote in enumerate(chosen):
        first.setdefault(quote.passage.index, number)
    return sorted(chosen, key=lambda quote: (first[quote.passage.index], quote.position))


def _by_passage(quotes: Sequence[Quote]) -> list[list[Quote]]:
    groups: list[list[Quote]] = []
    for quote in quotes:
        if groups and groups[-1][0].passage.index == quote.passage.index:
            groups[-1].append(quote)
        else:
            groups.append([quote])
    return groups


def _cut(text: str) -> str:
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1].rstrip() + "\u2026"
