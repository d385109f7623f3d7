"""Markdown (markdown-it-py) and HTML (selectolax) to blocks.

Both formats produce the same shapes: `h1`-`h6` / `#` headings with their level; paragraphs; a
whole list as one paragraph block with an item per line; code blocks keeping their indentation;
tables as `| a | b |` rows, header first. Neither format has pages.

HTML is only parsed, never rendered or run: scripts are text the walker skips, together with
styles, navigation and footers, so none of their text reaches the index.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from markdown_it import MarkdownIt
from markdown_it.token import Token
from selectolax.lexbor import LexborHTMLParser, LexborNode

from purpose_agent.knowledge.blocks import Block, BlockKind, ParsedDocument
from purpose_agent.knowledge.detection import HTML, MARKDOWN
from purpose_agent.knowledge.parsing_text import clean, split_paragraphs, table_block, text_block

_MARKDOWN = MarkdownIt("commonmark").enable("table")


def parse_markdown(text: str) -> ParsedDocument:
    """Extract Markdown's headings, paragraphs, lists, code blocks and tables."""
    blocks: list[Block] = []
    list_lines: list[str] = []
    list_depth = 0
    item_marker: str | None = None
    table_rows: list[list[str]] | None = None
    heading_level = 0

    def add(block: Block | None) -> None:
        if block is None:
            return
        if list_depth:
            # Anything inside a list item (a nested paragraph, code, a table) joins the list's lines.
            list_lines.extend(block.text.split("\n"))
        else:
            blocks.append(block)

    for token in _MARKDOWN.parse(text):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
            if not list_depth:
                add(text_block(BlockKind.paragraph, "\n".join(list_lines)))
                list_lines.clear()
        elif kind == "list_item_open":
            item_marker = f"{token.info}{token.markup}"
        elif kind == "heading_open":
            heading_level = int(token.tag[1:])
        elif kind == "heading_close":
            heading_level = 0
        elif kind == "table_open":
            table_rows = []
        elif kind == "tr_open" and table_rows is not None:
            table_rows.append([])
        elif kind == "table_close" and table_rows is not None:
            add(table_block(table_rows))
            table_rows = None
        elif kind == "inline":
            line = _inline_text(token)
            if table_rows is not None and table_rows:
                table_rows[-1].append(line)
            elif heading_level:
                add(text_block(BlockKind.heading, line, level=heading_level))
            elif list_depth:
                list_lines.append(clean(f"{item_marker} {line}" if item_marker else line))
                item_marker = None
            else:
                add(text_block(BlockKind.paragraph, line))
        elif kind in ("fence", "code_block"):
            add(text_block(BlockKind.code, token.content))
        elif kind == "html_block":
            for paragraph in split_paragraphs(_html_text(token.content)):
                add(Block(BlockKind.paragraph, paragraph))
    return ParsedDocument(mime=MARKDOWN, blocks=tuple(blocks), title=_first_title(blocks))


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "image"):
            # An image's content is its alt text: the only words it contributes.
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    return "".join(parts)


def _html_text(html: str) -> str:
    walker = _HtmlWalker()
    body = LexborHTMLParser(html).body
    if body is not None:
        walker.walk(body)
        walker.flush()
    return "\n\n".join(block.text for block in walker.blocks)


def parse_html(text: str) -> ParsedDocument:
    """Extract HTML's headings, paragraphs, lists, preformatted text and tables."""
    tree = LexborHTMLParser(text)
    walker = _HtmlWalker()
    if tree.body is not None:
        walker.walk(tree.body)
        walker.flush()
    title_node = tree.css_first("head > title")
    title = clean(title_node.text()) if title_node is not None else ""
    return ParsedDocument(mime=HTML, blocks=tuple(walker.blocks), title=title or _first_title(walker.blocks))


# Elements whose text is page furniture or code, never document content.
_DROPPED = frozenset(
    {"script", "style", "noscript", "template", "nav", "footer", "iframe", "object", "embed", "svg"}
    | {"canvas", "button", "select", "input", "textarea", "head", "math"}
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Elements that end the running paragraph; anything else (span, a, b, custom elements) is inline.
_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "main", "header", "aside", "blockquote", "pre", "table"}
    | {"ul", "ol", "li", "dl", "dt", "dd", "figure", "figcaption", "details", "summary", "address"}
    | {"form", "fieldset", "legend", "hr", "center", "hgroup", "body", "caption", "search"}
    | set(_HEADINGS)
)
_STRUCTURED = frozenset({"pre", "table", "ul", "ol", *_HEADINGS})
_HTML_SPACE = re.compile(r"\s+")


class _HtmlWalker:
    """Turns a DOM subtree into blocks: block elements end paragraphs, inline elements continue them."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._pending: list[str] = []

    def flush(self) -> None:
        block = text_block(BlockKind.paragraph, "".join(self._pending))
        if block is not None:
            self.blocks.append(block)
        self._pending.clear()

    def walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            if child.is_text_node:
                # Source line breaks in HTML are spaces; only <br> breaks a line.
                self._pending.append(_HTML_SPACE.sub(" ", child.text_content or ""))
                continue
            tag = child.tag or ""
            if not child.is_element_node or tag in _DROPPED:
                continue
            if tag == "br":
                self._pending.append("\n")
            elif tag not in _BLOCK_TAGS:
                self.walk(child)
            else:
                self.flush()
                # Plain containers recurse here directly: one frame per level of nesting.
                if tag in _STRUCTURED:
                    self._structured(child, tag)
                else:
                    self.walk(child)
                self.flush()

    def _structured(self, node: LexborNode, tag: str) -> None:
        if tag in _HEADINGS:
            self._add(text_block(BlockKind.heading, _text_of(node), level=_HEADINGS[tag]))
        elif tag == "pre":
            self._add(text_block(BlockKind.code, "".join(_raw_text(node))))
        elif tag == "table":
            caption = node.css_first("caption")
            if caption is not None:
                self._add(text_block(BlockKind.paragraph, _text_of(caption)))
            self._add(table_block(_table_rows(node)))
        elif tag in ("ul", "ol"):
            items = enumerate(_children(node, "li"), start=1)
            lines = [line for number, item in items for line in _list_item_lines(item, tag, number)]
            self._add(text_block(BlockKind.paragraph, "\n".join(lines)))

    def _add(self, block: Block | None) -> None:
        if block is not None:
            self.blocks.append(block)


def _text_of(node: LexborNode) -> str:
    walker = _HtmlWalker()
    walker.walk(node)
    walker.flush()
    return "\n".join(block.text for block in walker.blocks)


def _raw_text(node: LexborNode) -> Iterator[str]:
    # Preformatted text: whitespace kept exactly, skipped elements still skipped.
    for child in node.iter(include_text=True):
        if child.is_text_node:
            yield child.text_content or ""
        elif child.is_element_node and (child.tag or "") not in _DROPPED:
            yield "\n" if child.tag == "br" else "".join(_raw_text(child))


def _list_item_lines(item: LexborNode, list_tag: str, number: int) -> list[str]:
    marker = "-" if list_tag == "ul" else f"{number}."
    lines = _text_of(item).split("\n")
    return [f"{marker} {lines[0]}", *lines[1:]] if lines[0] else lines[1:]


def _children(node: LexborNode, *tags: str) -> Iterator[LexborNode]:
    return (child for child in node.iter() if child.tag in tags)


def _table_rows(table: LexborNode) -> list[list[str]]:
    # Rows of a table nested in a cell belong to that cell's text, not to this table.
    rows = [row for row in table.css("tr") if _closest_table(row) == table]
    cells = [list(_children(row, "th", "td")) for row in rows]
    header = next((i for i, row in enumerate(cells) if row and all(c.tag == "th" for c in row)), 0)
    ordered = [cells[header], *cells[:header], *cells[header + 1 :]] if cells else []
    return [[_text_of(cell).replace("\n", " ") for cell in row] for row in ordered]


def _closest_table(node: LexborNode) -> LexborNode | None:
    parent = node.parent
    while parent is not None and parent.tag != "table":
        parent = parent.parent
    return parent


def _first_title(blocks: list[Block]) -> str | None:
    return next(
        (block.text for block in blocks if block.kind is BlockKind.heading and block.level == 1), None
    )
