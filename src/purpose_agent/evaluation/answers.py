"""What the service answered one question: the parts the eval judges, or why there is no answer."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError


@dataclass(frozen=True, slots=True)
class Cited:
    """One citation: the document's source name and the heading path of the passage."""

    source: str
    heading: str


@dataclass(frozen=True, slots=True)
class Answer:
    citations: tuple[Cited, ...]
    abstained: bool
    model_used: str
    # The round trip as the client saw it, one request (a wait after a 429 is not counted).
    seconds: float
    # None when the service does not report groundedness (older services), or not for this answer.
    grounded: bool | None = None
    unsupported: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A question the service did not answer: its status (None when it never replied) and why."""

    status: int | None
    detail: str


Reply = Answer | Failure


class _CitationBody(BaseModel):
    source: str
    heading: str = ""


class _AnswerBody(BaseModel):
    # Only what the eval reads; other fields (the answer's text, usage, ...) may come and go.
    model_config = ConfigDict(extra="ignore")

    citations: list[_CitationBody]
    abstained: bool = False
    model_used: str = ""
    grounded: bool | None = None
    unsupported: list[str] | None = None


def parse_answer(body: object, seconds: float) -> Reply:
    """The judged parts of a `POST /api/chat` body; a Failure when it is not a chat answer."""
    try:
        parsed = _AnswerBody.model_validate(body)
    except ValidationError:
        return Failure(200, "the answer is not a chat answer (no citations list)")
    return Answer(
        citations=tuple(Cited(citation.source, citation.heading) for citation in parsed.citations),
        abstained=parsed.abstained,
        model_used=parsed.model_used,
        seconds=seconds,
        grounded=parsed.grounded,
        unsupported=None if parsed.unsupported is None else tuple(parsed.unsupported),
    )
