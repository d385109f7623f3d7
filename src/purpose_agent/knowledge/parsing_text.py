"""The text normalisation every parser applies, and the blocks it builds from cleaned text.

Every format's text goes through `clean`: NFC, line breaks unified, control characters other than
newline and tab removed, runs of spaces collapsed. Code keeps its indentation (`clean_code`).
A block left with no text is not built (None).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from purpose_agent.knowledge.blocks import Block, BlockKind, ParseError


def decode_text(data: bytes) -> str:
    """Decode UTF-8 text, with or without a byte-order mark."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError("the file is not valid UTF-8 text") from None


_LINE_BREAKS = re.compile(r"\r\n?|[\v\f\x85\u2028\u2029]")
# C0 and C1 controls except tab and newline, and stray byte-order marks inside the text.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]")
_SPACES = re.compile(r"[^\S\n\t]+")
_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")


def _clean_lines(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = _LINE_BREAKS.sub("\n", text)
    return _CONTROLS.sub("", text)


def clean(text: str) -> str:
    """Normalise a block's text: NFC, one kind of newline, no control characters, single spaces."""
    lines = (_SPACES.sub(" ", line).strip(" ") for line in _clean_lines(text).split("\n"))
    return "\n".join(lines).strip()


def clean_code(text: str) -> str:
    """Normalise code like `clean`, but keep its indentation and inner spacing."""
    lines = (line.rstrip() for line in _clean_lines(text).split("\n"))
    return "\n".join(lines).strip("\n")


def split_paragraphs(text: str) -> list[str]:
    """Split text into paragraphs on blank lines, each cleaned; empty ones are dropped."""
    parts = (clean(part) for part in _BLANK_LINES.split(_clean_lines(text)))
    return [part for part in parts if part]


def paragraphs(text: str, page: int | None = None) -> list[Block]:
    """Paragraph blocks of `text`, split on blank lines."""
    return [Block(BlockKind.paragraph, part, page=page) for part in split_paragraphs(text)]


def text_block(kind: BlockKind, text: str, *, page: int | None = None, level: int = 0) -> Block | None:
    """A cleaned block of `kind`, or None when nothing is left of its text."""
    cleaned = clean_code(text) if kind is BlockKind.code else clean(text)
    if kind is BlockKind.heading:
        # A heading is one line; soft breaks inside a title are layout, not structure.
        cleaned = " ".join(cleaned.split("\n"))
    return Block(kind, cleaned, page=page, level=level) if cleaned else None


def table_block(rows: Iterable[Iterable[str]], *, page: int | None = None) -> Block | None:
    """A table block from rows of cell texts (header first), or None when every cell is empty."""
    lines: list[str] = []
    for row in rows:
        cells = [" ".join(clean(cell).split("\n")).replace("|", "\\|") for cell in row]
        if any(cells):
            lines.append("| " + " | ".join(cells) + " |")
    if not lines:
        return None
    return Block(BlockKind.table, "\n".join(lines), page=page, rows=tuple(lines))
