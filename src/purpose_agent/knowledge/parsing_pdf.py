"""PDF to blocks with pypdf.

Why pypdf and not pypdfium2: on our samples both extract the same text in the same order, and
pypdfium2 is about ten times faster (~3 ms a page against ~25-30 ms). But PDFium is C++ parsing
untrusted uploads inside our worker process, is documented as not thread-safe (ingestion may run
parsers on threads), and its binding ships no type information. pypdf is pure Python: a hostile
file can make it raise or be slow, never crash the process; ~3 s for a 100-page PDF is acceptable
for a background ingestion job.

Structure, kept deliberately simple and predictable:

- Every block carries its 1-based page number; `pages` is the page count.
- Paragraphs: pypdf's text has line breaks but rarely blank lines, so a page is split on blank
  lines and after a line that ends a sentence while being clearly shorter than the page's full
  lines (the last line of a paragraph). Line breaks inside a paragraph are kept as extracted.
- Headings are not guessed from fonts or capitals. When the PDF has an outline (bookmarks), each
  entry gives a heading's text, level and page: if the title appears as a line of its page, the
  heading block replaces that line in place, otherwise it opens the page's blocks.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, EmptyFileError
from pypdf.generic import Destination

from purpose_agent.knowledge.blocks import (
    MAX_TEXT_CHARS,
    Block,
    BlockKind,
    ParsedDocument,
    ParseError,
    too_much_text,
)
from purpose_agent.knowledge.detection import PDF
from purpose_agent.knowledge.parsing_text import clean, split_paragraphs, text_block

_DAMAGED = "the PDF is damaged and cannot be read"
_SENTENCE_END = (".", "!", "?", ":", '"', "\u201d", "\u2019", ")")
# A line shorter than this share of the page's usual full line ends its paragraph (if it also ends
# a sentence); the usual full line is a high percentile, so one long outlier line does not count.
_SHORT_LINE = 0.75
_MAX_OUTLINE_ENTRIES = 10_000
_SECTION_NUMBER = re.compile(r"^(?:[\dIVXLCivxlc]+[.)]?|[A-Z][.)])(?:\d+[.)]?)*\s+")

# pypdf reports damage it repaired (a missing EOF marker, a rebuilt xref) through `logging`, not
# `warnings`, and those repairs are what we want; so there are no warnings to catch here, and any
# DeprecationWarning from it would be a bug in this module that tests should see.


def parse_pdf(data: bytes) -> ParsedDocument:
    """Extract a PDF's paragraphs and outline headings, page by page."""
    reader = _open(data)
    try:
        page_count = len(reader.pages)
    except Exception as exc:  # pypdf raises many kinds of error on malformed page trees.
        raise ParseError(_DAMAGED) from exc
    if page_count == 0:
        raise ParseError("the PDF has no pages")
    headings = _outline_headings(reader)
    blocks: list[Block] = []
    readable_pages = 0
    extracted = 0
    for number in range(1, page_count + 1):
        try:
            text = reader.pages[number - 1].extract_text()
        except Exception:  # One broken page should not lose the rest of the document.
            continue
        readable_pages += 1
        # Checked page by page: streams that inflate a thousandfold must not all be held first.
        extracted += len(text)
        if extracted > MAX_TEXT_CHARS:
            raise too_much_text()
        blocks.extend(_page_blocks(text, number, headings.get(number, [])))
    if readable_pages == 0:
        raise ParseError(_DAMAGED)
    if not any(block.kind is not BlockKind.heading for block in blocks):
        raise ParseError(
            "the PDF has no extractable text; it is probably scanned images, which need OCR first"
        )
    return ParsedDocument(mime=PDF, blocks=tuple(blocks), pages=page_count, title=_title(reader))


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise ParseError("the PDF is password-protected; upload a copy without the password")
    except ParseError:
        raise
    except EmptyFileError:
        raise ParseError("the file is empty") from None
    except DependencyError as exc:
        # AES-encrypted PDFs (even without a user password) need the `cryptography` package.
        raise ParseError("the PDF is encrypted in a way this server cannot read") from exc
    except Exception as exc:  # pypdf signals damage with many exception types, not one.
        raise ParseError(_DAMAGED) from exc
    return reader


def _title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        title = clean(metadata.title) if metadata is not None and metadata.title else ""
    except Exception:  # A broken info dictionary loses the title, not the document.
        return None
    return title or None


def _outline_headings(reader: PdfReader) -> dict[int, list[tuple[str, int]]]:
    """Outline entries as page number -> [(title, level)], in outline order; empty if unreadable."""
    headings: dict[int, list[tuple[str, int]]] = {}
    try:
        for count, (entry, depth) in enumerate(_walk_outline(reader.outline, 1)):
            if count >= _MAX_OUTLINE_ENTRIES:
                break
            title = clean(entry.title or "")
            index = reader.get_destination_page_number(entry)
            if title and index is not None and index >= 0:
                headings.setdefault(index + 1, []).append((" ".join(title.split()), min(depth, 6)))
    except Exception:  # The outline is an extra; a damaged one must not fail the document.
        return {}
    return headings


def _walk_outline(items: list[Any], depth: int) -> Iterator[tuple[Destination, int]]:
    # pypdf's outline nests a list of children right after their parent entry.
    for item in items:
        if isinstance(item, list):
            yield from _walk_outline(item, depth + 1)
        elif isinstance(item, Destination):
            yield item, depth


def _page_blocks(text: str, page: int, headings: list[tuple[str, int]]) -> list[Block]:
    lines = [line for paragraph in split_paragraphs(text) for line in [*paragraph.split("\n"), ""]]
    full_line = _full_line_length(lines)
    blocks: list[Block] = []
    unplaced = list(headings)
    pending: list[str] = []

    def flush() -> None:
        block = text_block(BlockKind.paragraph, "\n".join(pending), page=page)
        if block is not None:
            blocks.append(block)
        pending.clear()

    for line in lines:
        heading = _matching_heading(line, unplaced)
        if heading is not None:
            flush()
            unplaced.remove(heading)
            # The line as printed, which may carry a section number the bookmark leaves out.
            blocks.append(Block(BlockKind.heading, line, page=page, level=heading[1]))
        elif not line:
            flush()
        else:
            pending.append(line)
            if line.endswith(_SENTENCE_END) and len(line) < _SHORT_LINE * full_line:
                flush()
    flush()
    top = [Block(BlockKind.heading, title, page=page, level=level) for title, level in unplaced]
    return top + blocks


def _full_line_length(lines: list[str]) -> int:
    lengths = sorted(len(line) for line in lines if line)
    return lengths[int(len(lengths) * 0.9)] if lengths else 0


def _matching_heading(line: str, headings: list[tuple[str, int]]) -> tuple[str, int] | None:
    if not line or not headings:
        return None
    candidates = {line.casefold(), _SECTION_NUMBER.sub("", line, count=1).casefold()}
    for heading in headings:
        if heading[0].casefold() in candidates:
            return heading
    return None
