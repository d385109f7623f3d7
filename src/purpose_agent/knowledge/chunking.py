"""Split a parsed document's blocks into chunks that respect its structure, sized in the model's tokens.

Let `extracted = extracted_text(blocks)`. Every chunk covers the span `extracted[start:end]`, which
begins and ends on non-whitespace (but a code line keeps its indentation), and its `text` is exactly:

- `extracted[start:end]` for every chunk except a table's continuations;
- `header + "\\n" + extracted[start:end]` for a continuation of a table too large for one chunk,
  where `header` is the table's first non-blank row, stripped. The header is repeated only when
  it takes at most half of a chunk's room for text; a larger header is pathological, and then the
  continuations carry their rows alone.

Overlap is visible in the spans alone: a chunk that shares text with the previous one starts
before the previous one's end, and `extracted[chunk.start:previous.end]` is the shared text. It is a
suffix of the previous chunk's last paragraph (or heading), at most `overlap_tokens` tokens beyond
the model's special tokens, whole sentences when any fit, else whole words. It never reaches into
the chunk before the previous one, never crosses a section, and is never taken from a table or a code block.
So a document's text is given back by each chunk's span less the part before the previous chunk's
end, joined by the whitespace between spans.

Structure: a heading with any text starts a section whose first chunk begins with the heading's own
text; no chunk spans two sections; `heading_path` is the section's heading (whitespace collapsed)
with the headings above it, where a heading of level n closes every open heading of level n or
deeper (level 0 counts as 1); a blank heading is ignored. A section's
paragraphs and code blocks are packed whole while they fit. A paragraph too large for a chunk is
split into sentences, a code block into lines, a table into rows; then a piece still too large is
split into words, and a word into characters. A table always gets chunks of its own, cut between
rows; a row that does not fit beside the header is split into words as a last resort.

Sizes are measured by calling `count_tokens` on the exact text of every chunk, so nothing assumes
that token counts add up, or that tokens are words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from purpose_agent.knowledge.blocks import BLOCK_SEPARATOR, Block, BlockKind, extracted_text
from purpose_agent.knowledge.chunking_text import (
    Splitter,
    char_spans,
    line_spans,
    sentence_spans,
    trimmed,
    word_spans,
)

# How a piece too large for a chunk is split, finest last. Table rows come from `Block.rows` first.
_SPLITTERS: dict[BlockKind, tuple[Splitter, ...]] = {
    BlockKind.heading: (word_spans, char_spans),
    BlockKind.paragraph: (sentence_spans, word_spans, char_spans),
    BlockKind.code: (line_spans, word_spans, char_spans),
    BlockKind.table: (word_spans, char_spans),
}
# Overlap is prose carried over for context; repeated code lines or table cells would only mislead.
_OVERLAP_KINDS = frozenset({BlockKind.heading, BlockKind.paragraph})


@dataclass(frozen=True, slots=True)
class Chunk:
    """One searchable passage; see the module docstring for how `text` relates to `start`/`end`."""

    index: int
    text: str
    start: int
    end: int
    page: int | None
    heading_path: tuple[str, ...]
    token_count: int


@dataclass(frozen=True)
class ChunkingPolicy:
    """Chunk size limits in the embedding model's tokens; `max_tokens` includes its special tokens."""

    max_tokens: int = 256
    overlap_tokens: int = 32

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, not {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ValueError(f"overlap_tokens must be in [0, max_tokens), not {self.overlap_tokens}")


def chunk_blocks(
    blocks: Sequence[Block],
    count_tokens: Callable[[str], int],
    policy: ChunkingPolicy = ChunkingPolicy(),  # frozen, so one shared default is safe
) -> list[Chunk]:
    """Split a document's blocks into chunks of at most `policy.max_tokens` tokens each."""
    return _Chunker(tuple(blocks), count_tokens, policy).run()


class _Piece(NamedTuple):
    """A span that the packer never cuts, and the block it lies in."""

    start: int
    end: int
    block: int


class _Draft(NamedTuple):
    start: int
    end: int
    prefix: str  # the repeated table header, or ""
    first_block: int
    last_block: int
    fresh_start: int  # where the text not shared with the previous chunk begins


class _Chunker:
    def __init__(
        self, blocks: tuple[Block, ...], count_tokens: Callable[[str], int], policy: ChunkingPolicy
    ) -> None:
        self.blocks = blocks
        self.extracted = extracted_text(blocks)
        self.count_tokens = count_tokens
        self.policy = policy
        self.special_tokens = count_tokens("")
        if self.special_tokens >= policy.max_tokens:
            raise ValueError(f"the model's special tokens alone fill max_tokens={policy.max_tokens}")
        self.offsets: list[int] = []
        position = 0
        for block in blocks:
            self.offsets.append(position)
            position += len(block.text) + len(BLOCK_SEPARATOR)
        self.chunks: list[Chunk] = []

    def fits(self, text: str) -> bool:
        return self.count_tokens(text) <= self.policy.max_tokens

    def run(self) -> list[Chunk]:
        open_headings: list[tuple[int, str]] = []
        path: tuple[str, ...] = ()
        prose: list[_Piece] = []
        for index, block in enumerate(self.blocks):
            if block.kind is BlockKind.heading and block.text.strip():
                self.emit(self.pack(prose), path)
                prose = []
                level = max(block.level, 1)
                open_headings = [(lv, title) for lv, title in open_headings if lv < level]
                open_headings.append((level, " ".join(block.text.split())))
                path = tuple(title for _, title in open_headings)
            if block.kind is BlockKind.table:
                self.emit(self.pack(prose), path)
                prose = []
                self.emit(self.table(index), path)
            else:
                prose.extend(self.block_pieces(index))
        self.emit(self.pack(prose), path)
        return self.chunks

    def block_pieces(self, index: int) -> list[_Piece]:
        block, offset = self.blocks[index], self.offsets[index]
        if block.kind is BlockKind.code:
            lines = line_spans(block.text)  # keep the first line's indentation
            span = (offset + lines[0][0], offset + lines[-1][1]) if lines else None
        else:
            span = trimmed(self.extracted, offset, offset + len(block.text))
        if span is None:
            return []
        return self.refine(index, *span, _SPLITTERS[block.kind], "")

    def refine(
        self, block: int, start: int, end: int, splitters: tuple[Splitter, ...], prefix: str
    ) -> list[_Piece]:
        """The span as one piece if it fits after `prefix`, else split by the next finer splitter."""
        text = self.extracted[start:end]
        if not splitters or self.fits(prefix + text):
            return [_Piece(start, end, block)]
        pieces: list[_Piece] = []
        for sub_start, sub_end in splitters[0](text):
            pieces.extend(self.refine(block, start + sub_start, start + sub_end, splitters[1:], prefix))
        return pieces

    def table(self, index: int) -> list[_Draft]:
        block, position = self.blocks[index], self.offsets[index]
        # `text` is documented as the rows joined by newlines; if a parser broke that, trust `text`.
        rows = block.rows if "\n".join(block.rows) == block.text else tuple(block.text.split("\n"))
        spans: list[tuple[int, int]] = []
        for row in rows:
            if span := trimmed(self.extracted, position, position + len(row)):
                spans.append(span)
            position += len(row) + 1
        if not spans:
            return []
        header = self.extracted[spans[0][0] : spans[0][1]]
        room = self.policy.max_tokens - self.special_tokens
        header_fits = self.count_tokens(header) - self.special_tokens <= room // 2
        prefix = header + "\n" if header_fits else ""
        pieces = self.refine(index, *spans[0], _SPLITTERS[BlockKind.table], "")
        for start, end in spans[1:]:
            pieces.extend(self.refine(index, start, end, _SPLITTERS[BlockKind.table], prefix))
        return self.pack(pieces, continuation_prefix=prefix, overlap=False)

    def pack(self, pieces: list[_Piece], continuation_prefix: str = "", overlap: bool = True) -> list[_Draft]:
        """Greedily fill chunks with whole pieces, each chunk checked on its exact text."""
        drafts: list[_Draft] = []
        i = 0
        while i < len(pieces):
            first = pieces[i]
            prefix = continuation_prefix if drafts else ""
            start, first_block = first.start, first.block
            if overlap and drafts:
                for overlap_start, block in self.overlap_starts(drafts[-1]):
                    if self.fits(self.extracted[overlap_start : first.end]):
                        start, first_block = overlap_start, block
                        break
            if not self.fits(prefix + self.extracted[start : first.end]):
                # Only a single character can miss here (`refine` split everything else to fit
                # beside the header), and then it goes without the header rather than not at all.
                prefix = ""
                if not self.fits(self.extracted[start : first.end]):
                    raise ValueError(
                        f"count_tokens exceeds max_tokens for {self.extracted[start : first.end]!r}"
                    )
            last = first
            i += 1
            while i < len(pieces) and self.fits(prefix + self.extracted[start : pieces[i].end]):
                last = pieces[i]
                i += 1
            drafts.append(_Draft(start, last.end, prefix, first_block, last.block, first.start))
        return drafts

    def overlap_starts(self, previous: _Draft) -> list[tuple[int, int]]:
        """Where the next chunk may start inside `previous`, largest overlap first."""
        block = previous.last_block
        if self.policy.overlap_tokens == 0 or self.blocks[block].kind not in _OVERLAP_KINDS:
            return []
        # From the previous chunk's own new text only, so no chunk shares text with two others.
        lower = max(self.offsets[block], previous.fresh_start)
        region = self.extracted[lower : previous.end]
        for splitter in (sentence_spans, word_spans):  # whole sentences if any fit, else words
            starts: list[tuple[int, int]] = []
            for offset, _ in reversed(splitter(region)):
                start = lower + offset
                shared = self.count_tokens(self.extracted[start : previous.end]) - self.special_tokens
                if start <= previous.start or shared > self.policy.overlap_tokens:
                    break
                starts.append((start, block))
            if starts:
                return starts[::-1]
        return []

    def emit(self, drafts: list[_Draft], path: tuple[str, ...]) -> None:
        for draft in drafts:
            text = draft.prefix + self.extracted[draft.start : draft.end]
            self.chunks.append(
                Chunk(
                    index=len(self.chunks),
                    text=text,
                    start=draft.start,
                    end=draft.end,
                    page=self.blocks[draft.first_block].page,
                    heading_path=path,
                    token_count=self.count_tokens(text),
                )
            )
