"""Turn a document's bytes into ordered blocks, given the type `detection.detect_type` decided.

`parse` dispatches to one module per family (`parsing_pdf`, `parsing_office`, `parsing_markup`);
plain text is split into paragraphs. Every format's text goes through the same normalisation
(`parsing_text`), and blocks left empty are dropped.

Errors: every failure a user can cause with a file is a `ParseError` whose message says what is
wrong with the file (empty, damaged, password-protected, scanned without text).
"""

from __future__ import annotations

from purpose_agent.knowledge.blocks import MAX_TEXT_CHARS, ParsedDocument, ParseError, too_much_text
from purpose_agent.knowledge.detection import DOCX, HTML, MARKDOWN, PDF, PLAIN_TEXT
from purpose_agent.knowledge.parsing_text import decode_text, paragraphs

__all__ = ["PARSER_MODULES", "ParseError", "parse"]

# Every module a parse may import: a process that parses many documents imports them once, up front.
PARSER_MODULES = (
    "purpose_agent.knowledge.parsing",
    "purpose_agent.knowledge.parsing_pdf",
    "purpose_agent.knowledge.parsing_office",
    "purpose_agent.knowledge.parsing_markup",
)


def parse(data: bytes, mime: str) -> ParsedDocument:
    """Extract the ordered blocks of `data`, a document of type `mime`."""
    if not data:
        raise ParseError("the file is empty")
    try:
        document = _parse(data, mime)
    except RecursionError:
        # The walkers recurse along the document's nesting; only a pathological file gets this deep.
        raise ParseError("the document is nested too deeply to read") from None
    if not document.blocks:
        raise ParseError("the document contains no text")
    if sum(len(block.text) for block in document.blocks) > MAX_TEXT_CHARS:
        raise too_much_text()
    return document


def _parse(data: bytes, mime: str) -> ParsedDocument:
    # The format modules are imported on first use: importing pypdf, python-docx or the markup
    # parsers is not free for processes that never parse.
    if mime == PDF:
        from purpose_agent.knowledge.parsing_pdf import parse_pdf

        return parse_pdf(data)
    if mime == DOCX:
        from purpose_agent.knowledge.parsing_office import parse_docx

        return parse_docx(data)
    if mime == MARKDOWN:
        from purpose_agent.knowledge.parsing_markup import parse_markdown

        return parse_markdown(decode_text(data))
    if mime == HTML:
        from purpose_agent.knowledge.parsing_markup import parse_html

        return parse_html(decode_text(data))
    if mime == PLAIN_TEXT:
        return ParsedDocument(mime=PLAIN_TEXT, blocks=tuple(paragraphs(decode_text(data))))
    raise ParseError(f"documents of type {mime} cannot be read")
