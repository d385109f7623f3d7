"""DOCX to blocks with python-docx, reading the body XML directly where python-docx skips content.

python-docx opens the package, resolves styles and reads the core properties. The body is walked
here, because python-docx's own paragraph and block iterators leave out text we want: runs inside
tracked insertions (`w:ins`), block-level content controls (`w:sdt`, where Word puts cover pages
and tables of contents), and they repeat merged table cells.

- Headings: paragraphs whose style (or a style it is based on) is `Title` (level 1) or
  `Heading N` (level N, at most 6).
- Tables: one table block per table, a row per line as `| a | b |`, the first row first.
- Pages: Word records where pages ended at its last layout (`w:lastRenderedPageBreak`); when the
  file has those they are used alone, since they already include explicit breaks. Otherwise
  explicit page breaks (`w:br w:type="page"`, `pageBreakBefore`) are counted. A file with neither
  gets no page numbers rather than a wrong "page 1" everywhere.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import docx
from docx.document import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml.ns import qn
from docx.styles.style import CharacterStyle

from purpose_agent.knowledge.blocks import Block, BlockKind, ParsedDocument, ParseError
from purpose_agent.knowledge.detection import DOCX, MAX_ZIP_ENTRIES, zip_entries
from purpose_agent.knowledge.parsing_text import clean, table_block, text_block

_DAMAGED = "the Word document is damaged and cannot be read"
# python-docx holds every part of the package in memory, and lxml makes an object of each element of
# its XML parts, so both are bounded before it opens the file: a few hundred kilobytes of ZIP can
# otherwise inflate to gigabytes. Measured (tests/hostile/documents.docx_bomb, short paragraphs): 100 MB
# of body XML took 1.35 GB and 24 s to parse. A 1,000-page report's body is about 10 MB of XML; images
# and fonts, which are only carried, take the rest of the allowance.
_MAX_UNPACKED_BYTES = 128 * 1024 * 1024
_MAX_XML_BYTES = 32 * 1024 * 1024
_XML_PARTS = (".xml", ".rels")
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)

_P, _TBL, _TR, _TC = qn("w:p"), qn("w:tbl"), qn("w:tr"), qn("w:tc")
_T, _TAB, _BR, _CR, _HYPHEN = qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr"), qn("w:noBreakHyphen")
_RENDERED_BREAK, _PAGE_BREAK_BEFORE = qn("w:lastRenderedPageBreak"), qn("w:pageBreakBefore")
_PPR, _PSTYLE = qn("w:pPr"), qn("w:pStyle")
_TYPE, _VAL = qn("w:type"), qn("w:val")
_SDT, _SDT_CONTENT, _CUSTOM_XML = qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")
# Text boxes repeat in a drawing's fallback rendering; paragraph properties and deletions hold no
# visible text of the paragraph itself.
_SKIPPED = frozenset(
    {
        qn("w:txbxContent"),
        "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback",
        qn("w:del"),
        qn("w:rPr"),
    }
)


class _Element(Protocol):
    """The part of lxml's element API used here (lxml ships no type information)."""

    # lxml gives comments and processing instructions a function as `tag`; it never equals a name.
    tag: str
    text: str | None

    def __iter__(self) -> Iterator[_Element]: ...
    def get(self, key: str) -> str | None: ...
    def find(self, path: str) -> _Element | None: ...
    def iter(self, tag: str) -> Iterator[_Element]: ...
    def iterancestors(self, tag: str) -> Iterator[_Element]: ...


@dataclass
class _Text:
    """A paragraph's or cell's text, and the page breaks found before and after its first text."""

    pieces: list[str] = field(default_factory=list)
    breaks_before: int = 0
    breaks_after: int = 0


def parse_docx(data: bytes) -> ParsedDocument:
    """Extract a Word document's headings, paragraphs and tables, with pages where Word marked them."""
    _check_unpacked_size(data)
    try:
        document = docx.Document(io.BytesIO(data))
        body = document.element.body
    except Exception as exc:  # Broken ZIP, missing part or malformed XML: all raise differently.
        if isinstance(exc, ValueError) and "content type" in str(exc):
            # python-docx's refusal of a macro-enabled document or a template (detection refuses
            # those first; this is for callers that skip it).
            raise ParseError("the file is not a plain Word document (.docx)") from exc
        raise ParseError(_DAMAGED) from exc
    if body is None:
        raise ParseError(_DAMAGED)
    rendered = any(True for _ in body.iter(_RENDERED_BREAK))
    paged = rendered or _has_explicit_breaks(body)
    levels: dict[str, int] = {}  # style lookups walk the styles part; a document has few styles
    page = 1
    blocks: list[Block] = []
    for element in _body_items(body):
        text = _Text()
        _collect(element, text, rendered)
        page += text.breaks_before
        block: Block | None
        if element.tag == _TBL:
            block = table_block(_table_rows(element, rendered), page=page if paged else None)
        else:
            style_id = _style_id(element)
            if style_id is not None and style_id not in levels:
                levels[style_id] = _heading_level(document, style_id)
            level = levels.get(style_id, 0) if style_id is not None else 0
            kind = BlockKind.heading if level else BlockKind.paragraph
            block = text_block(kind, "".join(text.pieces), page=page if paged else None, level=level)
        if block is not None:
            blocks.append(block)
        page += text.breaks_after
    return ParsedDocument(
        mime=DOCX, blocks=tuple(blocks), pages=page if paged else None, title=_title(document, blocks)
    )


def _check_unpacked_size(data: bytes) -> None:
    entries = zip_entries(data)
    if entries is not None and entries > MAX_ZIP_ENTRIES:
        raise ParseError(f"the Word document has more than {MAX_ZIP_ENTRIES} parts")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            # Declared sizes can be trusted as bounds: zipfile stops inflating a member at its declared
            # size (and fails its checksum) however much more its data would give.
            members = archive.infolist()
    except Exception as exc:  # BadZipFile, NotImplementedError, OSError...: the archive is unusable.
        raise ParseError(_DAMAGED) from exc
    if sum(info.file_size for info in members) > _MAX_UNPACKED_BYTES:
        raise ParseError(f"the Word document unpacks to more than {_MAX_UNPACKED_BYTES // 2**20} MB")
    if sum(info.file_size for info in members if info.filename.endswith(_XML_PARTS)) > _MAX_XML_BYTES:
        raise ParseError(f"the Word document holds more than {_MAX_XML_BYTES // 2**20} MB of XML")


def _body_items(parent: _Element) -> Iterator[_Element]:
    # Content controls and custom XML wrap ordinary paragraphs and tables; their content counts.
    for child in parent:
        if child.tag in (_P, _TBL):
            yield child
        elif child.tag in (_SDT, _SDT_CONTENT, _CUSTOM_XML):
            yield from _body_items(child)


def _collect(element: _Element, text: _Text, rendered: bool) -> None:
    for child in element:
        tag = child.tag
        if tag in _SKIPPED:
            continue
        if tag == _T:
            text.pieces.append(child.text or "")
        elif tag == _TAB:
            text.pieces.append("\t")
        elif tag == _CR or (tag == _BR and child.get(_TYPE) in (None, "textWrapping")):
            text.pieces.append("\n")
        elif tag == _HYPHEN:
            text.pieces.append("-")
        elif (tag == _RENDERED_BREAK and rendered) or (
            tag == _BR and child.get(_TYPE) == "page" and not rendered
        ):
            if any(piece.strip() for piece in text.pieces):
                text.breaks_after += 1
            else:
                text.breaks_before += 1
        elif tag == _PPR:
            # Only the paragraph's own "start on a new page" matters here; pPr holds no text.
            if not rendered and _is_on(child.find(_PAGE_BREAK_BEFORE)):
                text.breaks_before += 1
        elif tag == _P:
            # Paragraphs inside a table cell: keep them on separate lines.
            if text.pieces:
                text.pieces.append("\n")
            _collect(child, text, rendered)
        else:
            _collect(child, text, rendered)


def _is_on(flag: _Element | None) -> bool:
    return flag is not None and flag.get(_VAL) not in ("0", "false", "off")


def _style_id(paragraph: _Element) -> str | None:
    style = paragraph.find(f"{_PPR}/{_PSTYLE}")
    return None if style is None else style.get(_VAL)


def _table_rows(table: _Element, rendered: bool) -> Iterator[list[str]]:
    for row in table.iter(_TR):
        # Rows of a table nested in a cell belong to that cell's text, not to this table.
        if next(row.iterancestors(_TBL)) is not table:
            continue
        cells: list[str] = []
        for cell in row.iter(_TC):
            if next(cell.iterancestors(_TR)) is row:
                text = _Text()
                _collect(cell, text, rendered)
                cells.append("".join(text.pieces))
        yield cells


def _has_explicit_breaks(body: _Element) -> bool:
    return any(br.get(_TYPE) == "page" for br in body.iter(_BR)) or any(
        _is_on(flag) for flag in body.iter(_PAGE_BREAK_BEFORE)
    )


def _heading_level(document: Document, style_id: str) -> int:
    try:
        style = document.part.get_style(style_id, WD_STYLE_TYPE.PARAGRAPH)
    except Exception:  # A damaged styles part costs the heading levels, not the text.
        return 0
    # A custom style based on "Heading 2" is a heading 2; the chain is short but may be circular.
    for _ in range(8):
        name = (style.name or "").strip()
        if name.casefold() == "title":
            return 1
        match = _HEADING_STYLE.match(name)
        if match:
            return min(int(match.group(1)), 6)
        base = style.base_style if isinstance(style, CharacterStyle) else None
        if base is None:
            return 0
        style = base
    return 0


def _title(document: Document, blocks: list[Block]) -> str | None:
    try:
        title = clean(document.core_properties.title or "")
    except Exception:  # A malformed core-properties part loses the title, not the document.
        title = ""
    if title:
        return title
    return next(
        (block.text for block in blocks if block.kind is BlockKind.heading and block.level == 1), None
    )
