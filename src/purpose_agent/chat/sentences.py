"""Passages and answers cut into sentences: the units extraction quotes and the groundedness check weighs.

A passage is a chunk's text: blocks (headings, paragraphs, lists, tables, code) separated by blank
lines, as the parsers wrote them. Its sentences are those of its paragraphs, each list item, and
each table row but the header (the cells joined, so that a row reads as a line); a heading says
too little to quote, and code is never cut into sentences (it stays part of the passage's wording,
which the groundedness check reads whole).

An answer is a model's text, in Markdown more often than not: fenced code is left out, list
markers, emphasis and citation marks are removed, and each line is cut into sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from purpose_agent.knowledge.chunking_text import sentence_spans

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,3}[.)])\s+")
_TERMINAL = re.compile(r"[.!?:;\u2026][\"')\]\u2019\u201d]*$")
_CITATION = re.compile(r"\s*\[\d+(?:\s*[,\-\u2013]\s*\d+)*\]")
_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_HEADING_MARK = re.compile(r"^\s*#{1,6}\s+")
# Fewer words than this is a fragment ("Yes.", "See below."), not a statement to quote or to check.
MIN_WORDS = 3
# A heading is a short line with no closing punctuation; a longer one is a sentence whose stop was lost.
_HEADING_WORDS = 12


def passage_sentences(text: str, headings: Sequence[str] = ()) -> list[str]:
    """The sentences of a passage, in order: prose sentences, list items and table rows; `headings`
    (its heading path) are left out where its text repeats them."""
    sentences: list[str] = []
    for block in _BLANK_LINE.split(text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines or _is_code(lines) or (len(lines) == 1 and lines[0].strip() in headings):
            continue
        if all(line.lstrip().startswith("|") for line in lines):
            sentences += [_row(line) for line in lines[1:]]  # the first row is the table's header
        elif any(_LIST_MARKER.match(line) for line in lines):
            for line in lines:
                sentences += _prose(_LIST_MARKER.sub("", line))
        elif len(lines) == 1 and _is_heading(lines[0]):
            continue
        else:
            sentences += _prose(" ".join(line.strip() for line in lines))
    return [sentence for sentence in sentences if len(sentence.split()) >= MIN_WORDS]


def answer_sentences(text: str) -> list[str]:
    """The sentences of an answer, without Markdown, list markers or citation marks."""
    sentences: list[str] = []
    for line in _FENCE.sub("\n", text).split("\n"):
        line = _HEADING_MARK.sub("", _LIST_MARKER.sub("", line))
        line = _EMPHASIS.sub("", _CITATION.sub("", line)).strip()
        if line.startswith("|"):
            line = _row(line)
        sentences += _prose(line)
    return [sentence for sentence in sentences if len(sentence.split()) >= MIN_WORDS]


def _prose(text: str) -> list[str]:
    return [" ".join(text[start:end].split()) for start, end in sentence_spans(text)]


def _row(line: str) -> str:
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return " \u2014 ".join(cell for cell in cells if cell)


def _is_heading(line: str) -> bool:
    line = line.strip()
    return not _TERMINAL.search(line) and len(line.split()) <= _HEADING_WORDS


def _is_code(lines: list[str]) -> bool:
    # Parsers keep a code block's indentation and its brackets; prose lines start flush and with a word.
    first = lines[0].lstrip()
    return first[:1] in {"{", "[", "<", "$", "}", "]"} or any(line[:1] in {" ", "\t"} for line in lines)
