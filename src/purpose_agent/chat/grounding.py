"""The groundedness check: is each sentence of an answer supported by the passages it was given?

A cheap proxy, not an entailment model: it runs on the embedder already loaded for search, in one
batch, so it costs tens of milliseconds instead of a second model. Each claim of the answer (a
sentence that says something: not a question, not "I hope this helps", not "the passages do not
say") is supported when

- every number and identifier it names (status codes, sizes, settings, paths, code names such as
  "JSONEncoder") appears in the passages: a made-up endpoint or a wrong limit fails here whatever
  else the sentence says; and
- cosine(claim, its closest passage sentence) + 0.5 x the share of its content words found in the
  passages reaches 0.98: a paraphrase keeps the meaning or the words, an invention keeps neither.

An answer is grounded when no claim is unsupported; with no passages (a persona without retrieval, an
abstention) it is not checked (`grounded` None), and so when the embedder fails.

What it misses: a sentence that reuses the passages' words to say something else ("a persona can
answer from every category at once", "a 413 error is a type of server-side error") or negates them.
Measured with `.venv/bin/python bench/grounding.py` on the cases of `bench/grounding_cases.py`, each
checked against the passages retrieved from the sample knowledge for its question (the threshold and
weight were chosen on these same cases, so these rates flatter it; `--sweep` shows the trade-off):

    false alarms   0 of 77 sentences of extractive answers; 2 of 48 faithful hand-written sentences
                   (paraphrases, and the courtesy a model adds, which is not counted as a claim)
    detection      29 of 38 wrong sentences; 6 of the 8 written by SmolLM2-135M
    time           110 ms for one sentence against 5 passages (median; p95 240 ms), one thread
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from purpose_agent.chat.passages import Passage, headings
from purpose_agent.chat.sentences import answer_sentences, passage_sentences
from purpose_agent.chat.similarity import cosines
from purpose_agent.chat.terms import content_words, coverage, specific_terms
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.llm.types import Grounding

log = structlog.get_logger("purpose_agent.chat")

# Words of courtesy and of the answer's own structure: a sentence made of these claims nothing.
_GLUE = frozenset(
    {
        "anything", "ask", "assist", "below", "certainly", "else", "feel", "follow", "free", "glad",
        "great", "happy", "hear", "hello", "help", "helpful", "hi", "hope", "know", "let", "like",
        "need", "please", "question", "sorry", "step", "sure", "thank", "thanks",
    }
)  # fmt: skip
# A sentence about what the passages hold, not about the world: "the passages do not say …".
_ABOUT_SOURCES = re.compile(
    r"\b(passages?|context|knowledge base|available knowledge|provided|sources?)\b", re.IGNORECASE
)
_NEGATION = re.compile(r"\b(not|no|nothing|never|cannot|can't|don't|doesn't|isn't)\b|n't\b", re.IGNORECASE)
# A claim needs this many content words beyond the glue, or a number or identifier.
_CLAIM_WORDS = 3


@dataclass(frozen=True, slots=True)
class GroundingPolicy:
    """The support a claim needs (see the module docstring for why these numbers)."""

    threshold: float = 0.98
    lexical_weight: float = 0.5

    def supports(self, similarity: float, lexical: float, missing_terms: Sequence[str]) -> bool:
        """True when a claim measured so is supported: it names nothing the passages lack, and its
        similarity plus its weighted share of the passages' words reaches the threshold."""
        return not missing_terms and similarity + self.lexical_weight * lexical >= self.threshold


@dataclass(frozen=True, slots=True)
class Support:
    """How well the passages support one claim of an answer."""

    claim: str
    similarity: float
    lexical: float
    missing_terms: tuple[str, ...]
    supported: bool


def claims(answer: str) -> list[str]:
    """The sentences of an answer that state something the passages should support."""
    return [sentence for sentence in answer_sentences(answer) if _is_claim(sentence)]


async def assess(
    answer: str, passages: Sequence[Passage], embedder: Embedder, policy: GroundingPolicy = GroundingPolicy()
) -> list[Support]:
    """Each claim of `answer`, weighed against `passages` (the embedder's errors propagate)."""
    stated = claims(answer)
    sources = [
        sentence
        for passage in passages
        for sentence in passage_sentences(passage.text, headings(passage)) or [passage.text]
    ]
    if not stated or not sources:
        return []
    vectors = await embedder.embed([*stated, *sources])
    claim_vectors, source_vectors = vectors[: len(stated)], vectors[len(stated) :]
    wording = " ".join(f"{passage.heading or ''}\n{passage.text}" for passage in passages)
    words, terms, lowered = content_words(wording), specific_terms(wording), wording.lower()
    supports = []
    for claim, similarities in zip(stated, cosines(claim_vectors, source_vectors), strict=True):
        similarity = max(similarities)
        lexical = coverage(content_words(claim), words)
        missing = tuple(
            sorted(
                term for term in specific_terms(claim) if term not in terms and not _named_in(term, lowered)
            )
        )
        supports.append(
            Support(claim, similarity, lexical, missing, policy.supports(similarity, lexical, missing))
        )
    return supports


async def check_answer(
    answer: str, passages: Sequence[Passage], embedder: Embedder, policy: GroundingPolicy = GroundingPolicy()
) -> Grounding:
    """Whether `answer` is supported by `passages`, and the sentences that are not. Never raises:
    a check that cannot run (no passages, the embedder down) is reported as not checked."""
    if not passages:
        return Grounding()
    try:
        supports = await assess(answer, passages, embedder, policy)
    except Exception:
        log.warning("grounding_not_checked", exc_info=True)
        return Grounding()
    unsupported = tuple(support.claim for support in supports if not support.supported)
    return Grounding(grounded=not unsupported, unsupported=unsupported)


def _is_claim(sentence: str) -> bool:
    if sentence.rstrip().endswith("?"):
        return False
    if _ABOUT_SOURCES.search(sentence) and _NEGATION.search(sentence):
        return False
    if specific_terms(sentence):
        return True
    return len(content_words(sentence) - _GLUE) >= _CLAIM_WORDS


def _named_in(term: str, text: str) -> bool:
    # A number must match as a number ("5" is not in "50"); a name may be part of a longer one.
    if term.replace(".", "").isdigit():
        return False
    return term in text
