"""What a parser extracts from a document, and what the chunker consumes: ordered, typed blocks.

A parser that cannot read a file raises `ParseError`, with a message meant for the user.

A document's extracted text is its blocks' texts joined by blank lines (`extracted_text`); chunk
offsets point into that text, so a citation can always be traced back to the exact span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

BLOCK_SEPARATOR = "\n\n"
# The most text one document may yield: as much as the largest plain-text upload (UPLOAD_MAX_BYTES'
# default). A compressed format can hold a thousand times its size in text, and every character of it
# is chunked and embedded; past this, a document is refused rather than embedded for hours.
MAX_TEXT_CHARS = 20_000_000


def too_much_text() -> ParseError:
    """The refusal of a document that yields more than MAX_TEXT_CHARS characters."""
    return ParseError(f"the document holds more than {MAX_TEXT_CHARS:,} characters of text; split it")


# A chunk's heading path (outermost heading first) as one line: the stored `heading`, and citations.
HEADING_SEPARATOR = " > "


class BlockKind(StrEnum):
    heading = "heading"
    paragraph = "paragraph"
    table = "table"
    code = "code"


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a document.

    `level` is the heading level (1 for a title) for headings, 0 otherwise. For tables, `rows`
    holds each row as one line of text (the header row first) and `text` is those lines joined by
    newlines. `page` is 1-based for paged formats (PDF, DOCX with page breaks), None otherwise.
    """

    kind: BlockKind
    text: str
    page: int | None = None
    level: int = 0
    rows: tuple[str, ...] = field(default=())


class ParseError(Exception):
    """The document could not be read; the message is meant for the user."""


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    mime: str
    blocks: tuple[Block, ...]
    pages: int | None = None
    title: str | None = None


def extracted_text(blocks: tuple[Block, ...] | list[Block]) -> str:
    """The document's text as chunk offsets see it: block texts joined by blank lines."""
    return BLOCK_SEPARATOR.join(block.text for block in blocks)
