"""Which passages an answer cites: its [n] markers, or every passage given when it marks none."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

# [1], [2, 3], [2][3], [1-2] (hyphen or en dash) are all read; numbers outside the context are ignored.
_MARKER = re.compile(r"\[(\d+(?:\s*[,\-\u2013]\s*\d+)*)\]")

T = TypeVar("T")


def cited_numbers(answer: str, count: int) -> list[int]:
    """The passage numbers (1..count) the answer marks, in order of first mention."""
    seen: list[int] = []
    for group in _MARKER.findall(answer):
        numbers: list[int] = []
        for part in re.split(r"\s*,\s*", group):
            bounds = [int(n) for n in re.split(r"\s*[\-\u2013]\s*", part)]
            numbers += list(range(bounds[0], min(bounds[1], count) + 1)) if len(bounds) == 2 else bounds
        for number in numbers:
            if 1 <= number <= count and number not in seen:
                seen.append(number)
    return seen


def cited(answer: str, passages: Sequence[T]) -> list[T]:
    """The passages the answer cites; all of them if it cites none."""
    numbers = cited_numbers(answer, len(passages))
    return [passages[n - 1] for n in numbers] if numbers else list(passages)
