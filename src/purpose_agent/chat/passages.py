"""The retrieved passages an answer is grounded on, and how a citation names where one comes from."""

from __future__ import annotations

from dataclasses import dataclass

from purpose_agent.knowledge.blocks import HEADING_SEPARATOR


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved passage, numbered as the prompt and the citations number it."""

    index: int
    text: str
    source: str
    page: int | None = None
    heading: str | None = None
    score: float = 0.0


def origin(passage: Passage) -> str:
    """Where a passage comes from, as citations show it: "source, page N, heading"."""
    parts = [passage.source]
    if passage.page is not None:
        parts.append(f"page {passage.page}")
    if passage.heading:
        parts.append(passage.heading)
    return ", ".join(parts)


def headings(passage: Passage) -> tuple[str, ...]:
    """The headings above a passage, outermost first."""
    return tuple(passage.heading.split(HEADING_SEPARATOR)) if passage.heading else ()
