"""Chunking keeps every chunk within the token limit, drops nothing and respects the structure."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purpose_agent.knowledge.blocks import BLOCK_SEPARATOR, Block, BlockKind, extracted_text
from purpose_agent.knowledge.chunking import Chunk, ChunkingPolicy, chunk_blocks
from purpose_agent.knowledge.chunking_text import sentence_spans

Counter = Callable[[str], int]


def count_words(text: str) -> int:
    """Whitespace-separated words plus two special tokens, like [CLS] and [SEP]."""
    return len(text.split()) + 2


def count_chars(text: str) -> int:
    """Roughly four characters a token, as byte-pair tokenizers give for English: no notion of words."""
    return len(text) // 4 + 2


# ---------------------------------------------------------------------------------------------
# Random documents


WORDS = ("refund", "order", "digital", "goods", "within", "days", "the", "a", "customer", "is", "item")
word = st.sampled_from(WORDS)
# Now and then (one word in twenty) a "word" larger than a chunk, to reach the character-level split.
LONG_WORDS = ("x" * 45, "y9" * 40, "z" * 130)
odd_word = st.sampled_from(WORDS * 5 + LONG_WORDS)


@st.composite
def sentences(draw: st.DrawFn) -> str:
    words = draw(st.lists(odd_word, min_size=1, max_size=10))
    return " ".join(words).capitalize() + draw(st.sampled_from(".!?"))


@st.composite
def block_bodies(draw: st.DrawFn) -> Block:
    kind = draw(
        st.sampled_from(
            [BlockKind.heading, BlockKind.paragraph, BlockKind.paragraph, BlockKind.table, BlockKind.code]
        )
    )
    if kind is BlockKind.heading:
        title = " ".join(draw(st.lists(word, min_size=1, max_size=4))).title()
        return Block(kind, title, level=draw(st.integers(1, 3)))
    if kind is BlockKind.paragraph:
        return Block(kind, " ".join(draw(st.lists(sentences(), min_size=1, max_size=6))))
    if kind is BlockKind.table:
        cells = st.lists(odd_word, min_size=1, max_size=2).map(" ".join)
        rows = draw(st.lists(st.lists(cells, min_size=1, max_size=3), min_size=1, max_size=8))
        lines = tuple("| " + " | ".join(row) + " |" for row in rows)
        return Block(kind, "\n".join(lines), rows=lines)
    code_lines = st.builds(indented, st.sampled_from(["", "    "]), st.lists(odd_word, max_size=8))
    return Block(kind, "\n".join(draw(st.lists(code_lines, min_size=1, max_size=8))))


def indented(indent: str, words: list[str]) -> str:
    return indent + " ".join(words)


@st.composite
def documents(draw: st.DrawFn) -> list[Block]:
    bodies = draw(st.lists(block_bodies(), max_size=10))
    if not draw(st.booleans()):
        return bodies
    page, paged = 1, []
    for block in bodies:
        page += draw(st.integers(0, 1))
        paged.append(Block(block.kind, block.text, page=page, level=block.level, rows=block.rows))
    return paged


policies = st.integers(6, 60).flatmap(
    lambda size: st.builds(ChunkingPolicy, st.just(size), st.integers(0, size // 2))
)


# ---------------------------------------------------------------------------------------------
# The invariants, checked against an independent reading of the blocks


@dataclass(frozen=True)
class Layout:
    """Where each block lies in the extracted text, and which section and heading path it has."""

    extracted: str
    offsets: list[int]
    sections: list[int]
    paths: list[tuple[str, ...]]

    @classmethod
    def of(cls, blocks: list[Block]) -> Layout:
        offsets: list[int] = []
        sections: list[int] = []
        paths: list[tuple[str, ...]] = []
        open_headings: list[tuple[int, str]] = []
        position = section = 0
        for block in blocks:
            if block.kind is BlockKind.heading and block.text.strip():
                section += 1
                open_headings = [(level, title) for level, title in open_headings if level < block.level]
                open_headings.append((block.level, block.text))
            offsets.append(position)
            sections.append(section)
            paths.append(tuple(t for _, t in open_headings))
            position += len(block.text) + len(BLOCK_SEPARATOR)
        return cls(extracted_text(blocks), offsets, sections, paths)

    def block_at(self, position: int) -> int:
        return bisect_right(self.offsets, position) - 1


def table_header(block: Block) -> str:
    return next(row.strip() for row in block.rows if row.strip())


def header_repeats(header: str, count: Counter, policy: ChunkingPolicy) -> bool:
    """The documented rule: a header is repeated if it takes at most half the room for text."""
    special = count("")
    return count(header) - special <= (policy.max_tokens - special) // 2


def check_invariants(
    blocks: list[Block], count: Counter, policy: ChunkingPolicy, chunks: list[Chunk]
) -> None:
    layout = Layout.of(blocks)
    extracted = layout.extracted
    special = count("")

    # 4. indices in order; 1. size, page and heading path
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert count(chunk.text) == chunk.token_count <= policy.max_tokens
        first, last = layout.block_at(chunk.start), layout.block_at(chunk.end - 1)
        assert chunk.page == blocks[first].page
        assert chunk.heading_path == layout.paths[first]
        assert layout.sections[first] == layout.sections[last], "a chunk spans two sections"

    # 2. spans in bounds and in order; text is the span, or a table header and the span
    for chunk in chunks:
        assert 0 <= chunk.start < chunk.end <= len(extracted)
        span = extracted[chunk.start : chunk.end]
        block = blocks[layout.block_at(chunk.start)]
        assert span == (span.rstrip() if block.kind is BlockKind.code else span.strip())
        if chunk.text != span:
            assert block.kind is BlockKind.table
            assert chunk.text == table_header(block) + "\n" + span
    for previous, chunk in pairwise(chunks):
        assert previous.start < chunk.start
        assert previous.end < chunk.end
        if chunk.start < previous.end:  # an overlap: same section, prose, within budget
            shared_block = layout.block_at(chunk.start)
            assert layout.sections[shared_block] == layout.sections[layout.block_at(previous.end - 1)]
            assert blocks[shared_block].kind in (BlockKind.paragraph, BlockKind.heading)
            assert count(extracted[chunk.start : previous.end]) - special <= policy.overlap_tokens
        else:
            assert not extracted[previous.end : chunk.start].strip(), "text dropped between chunks"
    for earlier, later in zip(chunks, chunks[2:], strict=False):
        assert earlier.end <= later.start, "overlap beyond the next chunk"

    # 2. nothing dropped: the spans minus overlaps, with the whitespace between them, give the text back
    rebuilt, position = [], 0
    for chunk in chunks:
        rebuilt.append(extracted[position : chunk.start] if chunk.start > position else "")
        rebuilt.append(extracted[max(position, chunk.start) : chunk.end])
        position = chunk.end
    rebuilt.append(extracted[position:])
    assert "".join(rebuilt) == extracted
    covered = [False] * len(extracted)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    assert all(covered[i] or char.isspace() for i, char in enumerate(extracted))

    # Each heading begins its section's first chunk.
    starts = {chunk.start for chunk in chunks}
    for index, block in enumerate(blocks):
        if block.kind is BlockKind.heading and block.text.strip():
            assert layout.offsets[index] in starts

    # 3. tables: own chunks, rows whole when they fit, continuations repeat the header
    for index, block in enumerate(blocks):
        if block.kind is not BlockKind.table:
            continue
        begin, end = layout.offsets[index], layout.offsets[index] + len(block.text)
        parts = [chunk for chunk in chunks if chunk.start < end and chunk.end > begin]
        assert all(begin <= chunk.start and chunk.end <= end for chunk in parts), "a table shares a chunk"
        header = table_header(block)
        prefix = header + "\n" if header_repeats(header, count, policy) else ""
        for chunk in parts[1:]:
            assert chunk.text == prefix + extracted[chunk.start : chunk.end]
        position = begin
        for row_number, row in enumerate(block.rows):
            row_span = (position, position + len(row))
            position += len(row) + 1
            if count((prefix if row_number else "") + row) <= policy.max_tokens:
                assert any(c.start <= row_span[0] and row_span[1] <= c.end for c in parts), "row split"


# ---------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=100, deadline=None)
@given(blocks=documents(), policy=policies)
def test_invariants_with_a_word_counter(blocks: list[Block], policy: ChunkingPolicy) -> None:
    check_invariants(blocks, count_words, policy, chunk_blocks(blocks, count_words, policy))


@settings(max_examples=80, deadline=None)
@given(blocks=documents(), policy=policies)
def test_invariants_with_a_character_counter(blocks: list[Block], policy: ChunkingPolicy) -> None:
    check_invariants(blocks, count_chars, policy, chunk_blocks(blocks, count_chars, policy))


@settings(max_examples=25, deadline=None)
@given(blocks=documents(), policy=policies)
def test_chunking_is_deterministic(blocks: list[Block], policy: ChunkingPolicy) -> None:
    assert chunk_blocks(blocks, count_words, policy) == chunk_blocks(list(blocks), count_words, policy)


# ---------------------------------------------------------------------------------------------
# Examples


def expected(
    extracted: str, index: int, text: str, page: int | None, path: tuple[str, ...], count: Counter
) -> Chunk:
    start = extracted.index(text)
    return Chunk(index, text, start, start + len(text), page, path, count(text))


def test_a_small_document_gives_the_expected_chunks() -> None:
    blocks = [
        Block(BlockKind.heading, "Refunds", page=1, level=1),
        Block(BlockKind.paragraph, "Refunds are issued within 14 days.", page=1),
        Block(BlockKind.heading, "Digital goods", page=2, level=2),
        Block(BlockKind.paragraph, "Downloads cannot be refunded once started.", page=2),
        Block(
            BlockKind.table, "| Item | Fee |\n| Ebook | 0 |", page=2, rows=("| Item | Fee |", "| Ebook | 0 |")
        ),
        Block(BlockKind.paragraph, "Fees are in euros.", page=3),
        Block(BlockKind.heading, "Shipping", page=3, level=1),
        Block(BlockKind.code, "ship --to EU", page=4),
    ]
    extracted = extracted_text(blocks)

    chunks = chunk_blocks(blocks, count_words)

    assert chunks == [
        expected(extracted, 0, "Refunds\n\nRefunds are issued within 14 days.", 1, ("Refunds",), count_words),
        expected(
            extracted,
            1,
            "Digital goods\n\nDownloads cannot be refunded once started.",
            2,
            ("Refunds", "Digital goods"),
            count_words,
        ),
        expected(extracted, 2, "| Item | Fee |\n| Ebook | 0 |", 2, ("Refunds", "Digital goods"), count_words),
        expected(extracted, 3, "Fees are in euros.", 3, ("Refunds", "Digital goods"), count_words),
        expected(extracted, 4, "Shipping\n\nship --to EU", 3, ("Shipping",), count_words),
    ]


SENTENCES = [
    "Alpha beta gamma delta.",
    "Epsilon zeta eta theta.",
    "Iota kappa lambda mu.",
    "Nu xi omicron pi.",
]


def test_an_overlong_paragraph_splits_at_sentence_ends() -> None:
    blocks = [Block(BlockKind.paragraph, " ".join(SENTENCES))]

    chunks = chunk_blocks(blocks, count_words, ChunkingPolicy(max_tokens=10, overlap_tokens=0))

    assert [chunk.text for chunk in chunks] == [" ".join(SENTENCES[:2]), " ".join(SENTENCES[2:])]


def test_overlap_repeats_the_previous_chunks_last_sentence() -> None:
    blocks = [Block(BlockKind.paragraph, " ".join(SENTENCES))]

    chunks = chunk_blocks(blocks, count_words, ChunkingPolicy(max_tokens=10, overlap_tokens=4))

    assert [chunk.text for chunk in chunks] == [
        " ".join(SENTENCES[:2]),
        " ".join(SENTENCES[1:3]),
        " ".join(SENTENCES[2:]),
    ]
    assert chunks[1].start < chunks[0].end
    assert chunks[0].text.endswith(chunks[1].text[: chunks[0].end - chunks[1].start])


def test_overlap_falls_back_to_words_when_no_sentence_fits() -> None:
    blocks = [Block(BlockKind.paragraph, " ".join(SENTENCES))]

    chunks = chunk_blocks(blocks, count_words, ChunkingPolicy(max_tokens=10, overlap_tokens=2))

    assert chunks[1].text == "eta theta. Iota kappa lambda mu."


def test_a_large_table_is_cut_between_rows_and_repeats_its_header() -> None:
    rows = ("| Item | Fee |", "| Ebook | 0 |", "| Course | 5 |", "| Bundle | 9 |")
    blocks = [Block(BlockKind.paragraph, "Fees below."), Block(BlockKind.table, "\n".join(rows), rows=rows)]

    # Room for three rows of five words each: the header and two rows, then the header and the rest.
    chunks = chunk_blocks(blocks, count_words, ChunkingPolicy(max_tokens=2 + 15, overlap_tokens=3))

    assert [chunk.text for chunk in chunks] == [
        "Fees below.",
        "\n".join(rows[:3]),
        "\n".join((rows[0], rows[3])),
    ]
    extracted = extracted_text(blocks)
    assert extracted[chunks[2].start : chunks[2].end] == rows[3]


def test_a_large_code_block_is_split_by_lines_keeping_indentation() -> None:
    code = "def f():\n    return 1\n\ndef g():\n    return 2"
    blocks = [Block(BlockKind.code, code)]

    chunks = chunk_blocks(blocks, count_words, ChunkingPolicy(max_tokens=7, overlap_tokens=3))

    assert [chunk.text for chunk in chunks] == ["def f():\n    return 1", "def g():\n    return 2"]


def test_a_word_larger_than_a_chunk_is_split_by_characters() -> None:
    blocks = [Block(BlockKind.paragraph, "x" * 30)]

    chunks = chunk_blocks(blocks, count_chars, ChunkingPolicy(max_tokens=4, overlap_tokens=0))

    assert [chunk.text for chunk in chunks] == ["x" * 11, "x" * 11, "x" * 8]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Dr. Smith met J. Doe. He left!", ["Dr. Smith met J. Doe.", "He left!"]),
        ("Use a tool, e.g. a hammer. Then stop.", ["Use a tool, e.g. a hammer.", "Then stop."]),
        ('He asked "why?" and left. "Fine." Done', ['He asked "why?" and left.', '"Fine."', "Done"]),
        ("Version 1.2 is out. 3 bugs fixed.", ["Version 1.2 is out.", "3 bugs fixed."]),
        ("First part\n\nsecond part", ["First part", "second part"]),
        ("\u597d\u3002\u5f88\u597d\uff01", ["\u597d\u3002", "\u5f88\u597d\uff01"]),
    ],
)
def test_sentence_boundaries(text: str, sentences: list[str]) -> None:
    assert [text[start:end] for start, end in sentence_spans(text)] == sentences


@pytest.mark.parametrize(("max_tokens", "overlap_tokens"), [(0, 0), (10, 10), (10, -1)])
def test_an_impossible_policy_is_refused(max_tokens: int, overlap_tokens: int) -> None:
    with pytest.raises(ValueError, match="tokens"):
        ChunkingPolicy(max_tokens=max_tokens, overlap_tokens=overlap_tokens)


def test_special_tokens_that_fill_the_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="special tokens"):
        chunk_blocks(
            [Block(BlockKind.paragraph, "text")], count_words, ChunkingPolicy(max_tokens=2, overlap_tokens=0)
        )
