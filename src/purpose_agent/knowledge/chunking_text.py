"""Split text into sentence, line, word and character spans for the chunker.

Every splitter returns `(start, end)` offsets into the string it was given: in order, not
overlapping, trimmed of surrounding whitespace, and together covering every non-whitespace
character, so the chunker can cut at any of them without losing text.

Sentences are found by a conservative regex rather than a library. The one candidate that fits
(pysbd) has had no release since 2021 and ships no type hints, and we need exact offsets more than
linguistic finesse: a missed or extra sentence break only moves a chunk boundary, it never loses or
alters text, because chunk offsets come from these spans and not from a library's rewritten output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise

Span = tuple[int, int]
Splitter = Callable[[str], list[Span]]

# A full stop after one of these rarely ends a sentence. "etc." is left out on purpose: followed by
# a capital letter it usually does end one.
_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "e.g", "i.e", "cf", "al", "fig",
        "no", "vol", "pp", "approx", "inc", "ltd", "co", "corp", "dept", "ca", "nr", "art", "sec",
    }
)  # fmt: skip

# A candidate break: terminal punctuation, any closing quotes or brackets, then whitespace; CJK
# full stops, which need no space after them; or a blank line.
_BOUNDARY = re.compile(
    r"(?P<stop>[.!?\u2026]+)[\"')\]\u2019\u201d\u00bb]*\s+|[\u3002\uff01\uff1f]+\s*|\n[ \t]*\n\s*"
)
_WORD = re.compile(r"\S+")
_OPENERS = "\"'([\u2018\u201c\u00ab"


def trimmed(text: str, start: int, end: int) -> Span | None:
    """The span `text[start:end]` without surrounding whitespace, or None if it is blank."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def sentence_spans(text: str) -> list[Span]:
    """The sentences of a piece of prose (see the module docstring for why a regex)."""
    cuts = [0]
    for match in _BOUNDARY.finditer(text):
        if match.group("stop") is None or _ends_sentence(text, match):
            cuts.append(match.end())
    cuts.append(len(text))
    return [span for start, end in pairwise(cuts) if (span := trimmed(text, start, end))]


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    # "e.g. the", "approx. five": a lower-case continuation means the stop did not end a sentence.
    if text[match.end() : match.end() + 1].islower():
        return False
    if match.group("stop") != ".":
        return True
    stop = match.start("stop")
    word_start = stop
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:stop].lstrip(_OPENERS)
    if len(word) == 1 and word.isalpha():
        return False  # an initial, as in "J. Smith"
    return word.lower() not in _ABBREVIATIONS


def line_spans(text: str) -> list[Span]:
    """The non-blank lines, keeping their indentation (it carries meaning in code)."""
    spans: list[Span] = []
    position = 0
    for line in text.split("\n"):
        if line.strip():
            spans.append((position, position + len(line.rstrip())))
        position += len(line) + 1
    return spans


def word_spans(text: str) -> list[Span]:
    """The whitespace-separated words."""
    return [match.span() for match in _WORD.finditer(text)]


def char_spans(text: str) -> list[Span]:
    """Each non-whitespace character: the last resort for a word too large for a chunk."""
    return [(index, index + 1) for index, char in enumerate(text) if not char.isspace()]
