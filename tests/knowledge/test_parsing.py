"""Parsing real documents built here: PDFs with fpdf2, DOCX with python-docx, Markdown, HTML, text."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from docx.enum.text import WD_BREAK
from docx.oxml import OxmlElement
from fpdf import FPDF

from purpose_agent.knowledge.blocks import Block, BlockKind
from purpose_agent.knowledge.detection import DOCX, HTML, MARKDOWN, PDF, PLAIN_TEXT
from purpose_agent.knowledge.parsing import ParseError, parse

PAGES = [
    ("INTRODUCTION", "Aardvarks eat ants at night."),
    ("METHODS", "Badgers dig burrows in the hillside."),
    ("RESULTS", "Capybaras swim across the river on page three."),
]


def create_pdf(
    pages: list[tuple[str, str]] = PAGES,
    *,
    outline: bool = True,
    user_password: str | None = None,
    owner_password: str | None = None,
) -> bytes:
    pdf = FPDF()
    pdf.set_title("Field notes")
    if owner_password is not None:
        pdf.set_encryption(owner_password=owner_password, user_password=user_password)
    for title, body in pages:
        pdf.add_page()
        if outline:
            pdf.start_section(title)
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(text=title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 8, body)
    return bytes(pdf.output())


def create_docx(*, page_break: bool = True) -> bytes:
    document = docx.Document()
    document.add_heading("Quarterly report", level=0)
    document.add_heading("Summary", level=1)
    document.add_paragraph("Revenue grew   in every region.")
    table = document.add_table(rows=3, cols=2)
    for row, (name, value) in enumerate([("Region", "Growth"), ("North", "12%"), ("South", "7%")]):
        table.cell(row, 0).text = name
        table.cell(row, 1).text = value
    if page_break:
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    document.add_heading("Outlook", level=2)
    document.add_paragraph("Next quarter looks calm.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def texts(blocks: tuple[Block, ...], kind: BlockKind) -> list[str]:
    return [block.text for block in blocks if block.kind is kind]


def test_pdf_blocks_carry_their_page_numbers() -> None:
    document = parse(create_pdf(), PDF)

    assert document.pages == 3
    assert document.title == "Field notes"
    assert all(block.page in (1, 2, 3) for block in document.blocks)
    [page_three_sentence] = [block for block in document.blocks if "Capybaras" in block.text]
    assert page_three_sentence.page == 3
    assert page_three_sentence.kind is BlockKind.paragraph
    assert [block.page for block in document.blocks if "Aardvarks" in block.text] == [1]
    assert [block.page for block in document.blocks if "Badgers" in block.text] == [2]


def test_pdf_outline_entries_become_headings_in_place() -> None:
    document = parse(create_pdf(), PDF)

    headings = [
        (block.text, block.page, block.level) for block in document.blocks if block.kind is BlockKind.heading
    ]
    assert headings == [("INTRODUCTION", 1, 1), ("METHODS", 2, 1), ("RESULTS", 3, 1)]
    # The title line on the page is the heading, not repeated inside the page's paragraph.
    assert not any("RESULTS" in text for text in texts(document.blocks, BlockKind.paragraph))


def test_pdf_without_outline_gives_only_paragraphs() -> None:
    document = parse(create_pdf(outline=False), PDF)

    assert texts(document.blocks, BlockKind.heading) == []
    assert [block.page for block in document.blocks if "Capybaras" in block.text] == [3]


def test_pdf_paragraphs_split_where_a_sentence_ends_on_a_short_line() -> None:
    # PDF text has line breaks but no blank lines; a short last line ending a sentence ends a paragraph.
    full_line = "the first paragraph talks about rivers and keeps going across the whole width of the page"
    body = f"{full_line}\n{full_line}\nIt ends here.\nThe second paragraph is about mountains."
    document = parse(create_pdf([("NOTES", body)], outline=False), PDF)

    assert texts(document.blocks, BlockKind.paragraph) == [
        f"NOTES\n{full_line}\n{full_line}\nIt ends here.",
        "The second paragraph is about mountains.",
    ]


def test_password_protected_pdf_is_refused_with_a_reason() -> None:
    data = create_pdf(owner_password="owner", user_password="secret")

    with pytest.raises(ParseError, match="password-protected"):
        parse(data, PDF)


def test_pdf_with_only_an_owner_password_is_read() -> None:
    # Permission-only encryption opens without a password in every viewer; so it must here.
    document = parse(create_pdf(owner_password="owner", user_password=""), PDF)

    assert any("Capybaras" in block.text for block in document.blocks)


def test_truncated_pdf_is_reported_as_damaged() -> None:
    data = create_pdf()

    with pytest.raises(ParseError, match="damaged"):
        parse(data[: len(data) // 2], PDF)


def test_pdf_without_text_is_reported_as_scanned() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 150, style="F")

    with pytest.raises(ParseError, match=r"no extractable text.*scanned"):
        parse(bytes(pdf.output()), PDF)


@pytest.mark.parametrize("mime", [PDF, DOCX, HTML, MARKDOWN, PLAIN_TEXT])
def test_empty_file_is_refused(mime: str) -> None:
    with pytest.raises(ParseError, match="empty"):
        parse(b"", mime)


def test_docx_headings_paragraphs_table_and_page_break() -> None:
    document = parse(create_docx(), DOCX)

    assert document.pages == 2
    assert document.title == "Quarterly report"
    headings = [
        (block.text, block.level, block.page) for block in document.blocks if block.kind is BlockKind.heading
    ]
    assert headings == [("Quarterly report", 1, 1), ("Summary", 1, 1), ("Outlook", 2, 2)]
    [table] = [block for block in document.blocks if block.kind is BlockKind.table]
    assert table.rows == ("| Region | Growth |", "| North | 12% |", "| South | 7% |")
    assert table.text == "\n".join(table.rows)
    assert table.page == 1
    paragraphs = [(block.text, block.page) for block in document.blocks if block.kind is BlockKind.paragraph]
    assert paragraphs == [("Revenue grew in every region.", 1), ("Next quarter looks calm.", 2)]


def test_docx_without_page_breaks_has_no_page_numbers() -> None:
    document = parse(create_docx(page_break=False), DOCX)

    assert document.pages is None
    assert all(block.page is None for block in document.blocks)


def test_docx_rendered_page_breaks_are_not_counted_twice_with_explicit_ones() -> None:
    # Word writes a rendered break where each page began at its last layout, explicit breaks too.
    document = docx.Document()
    document.add_paragraph("Page one.")
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    rendered_start = document.add_paragraph()
    rendered_start.add_run()._r.append(OxmlElement("w:lastRenderedPageBreak"))
    rendered_start.add_run("Page two begins.")
    spanning = document.add_paragraph("Starts on two")
    spanning.add_run()._r.append(OxmlElement("w:lastRenderedPageBreak"))
    spanning.add_run(" and ends on three.")
    document.add_paragraph("Page three.")
    buffer = io.BytesIO()
    document.save(buffer)

    parsed = parse(buffer.getvalue(), DOCX)

    assert [(block.text, block.page) for block in parsed.blocks] == [
        ("Page one.", 1),
        ("Page two begins.", 2),
        ("Starts on two and ends on three.", 2),
        ("Page three.", 3),
    ]
    assert parsed.pages == 3


def test_truncated_docx_is_reported_as_damaged() -> None:
    data = create_docx()

    with pytest.raises(ParseError, match="Word document is damaged"):
        parse(data[: len(data) // 2], DOCX)


def test_docx_with_broken_xml_is_reported_as_damaged() -> None:
    source = zipfile.ZipFile(io.BytesIO(create_docx()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            target.writestr(item, content[:200] if item.filename == "word/document.xml" else content)

    with pytest.raises(ParseError, match="Word document is damaged"):
        parse(buffer.getvalue(), DOCX)


MARKDOWN_SOURCE = """# Install guide

Run the *installer* and read [the notes](https://example.com/notes).

## Ports

| Service | Port |
|---------|------|
| api     | 8080 |
| db      | 5432 |

```python
def main():
    return  0
```

- start the api
- start the db
"""


def test_markdown_headings_table_code_and_list() -> None:
    document = parse(MARKDOWN_SOURCE.encode(), MARKDOWN)

    assert [(block.kind, block.level) for block in document.blocks] == [
        (BlockKind.heading, 1),
        (BlockKind.paragraph, 0),
        (BlockKind.heading, 2),
        (BlockKind.table, 0),
        (BlockKind.code, 0),
        (BlockKind.paragraph, 0),
    ]
    heading, intro, _, table, code, items = document.blocks
    assert heading.text == "Install guide"
    assert document.title == "Install guide"
    assert intro.text == "Run the installer and read the notes."
    assert table.rows == ("| Service | Port |", "| api | 8080 |", "| db | 5432 |")
    assert table.text == "| Service | Port |\n| api | 8080 |\n| db | 5432 |"
    assert code.text == "def main():\n    return  0"
    assert items.text == "- start the api\n- start the db"
    assert document.pages is None
    assert all(block.page is None for block in document.blocks)


HTML_SOURCE = """<!DOCTYPE html>
<html><head><title>Service handbook</title><style>h1 { color: red }</style></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>On-call</h1>
<p>Page the   <b>primary</b>
first.</p>
<script>document.write("leaked script text")</script>
<h3>Escalation</h3>
<table>
  <thead><tr><th>Level</th><th>Who</th></tr></thead>
  <tbody><tr><td>1</td><td>Primary</td></tr><tr><td>2</td><td>Manager</td></tr></tbody>
</table>
<pre>kubectl get pods
  --all-namespaces</pre>
<footer>Copyright footer text</footer>
</body></html>
"""


def test_html_headings_table_and_no_script_text() -> None:
    document = parse(HTML_SOURCE.encode(), HTML)

    assert document.title == "Service handbook"
    assert [
        (block.kind, block.level, block.text) for block in document.blocks if block.kind is BlockKind.heading
    ] == [
        (BlockKind.heading, 1, "On-call"),
        (BlockKind.heading, 3, "Escalation"),
    ]
    assert texts(document.blocks, BlockKind.paragraph) == ["Page the primary first."]
    [table] = [block for block in document.blocks if block.kind is BlockKind.table]
    assert table.rows == ("| Level | Who |", "| 1 | Primary |", "| 2 | Manager |")
    assert texts(document.blocks, BlockKind.code) == ["kubectl get pods\n  --all-namespaces"]
    everything = "\n".join(block.text for block in document.blocks)
    for hidden in ("leaked script text", "color: red", "Home", "Copyright footer text"):
        assert hidden not in everything


def test_html_table_without_th_uses_first_row_as_header() -> None:
    source = (
        b"<html><body><table><tr><td>k</td><td>v</td></tr><tr><td>a</td><td>1</td></tr></table></body></html>"
    )

    [table] = parse(source, HTML).blocks

    assert table.rows == ("| k | v |", "| a | 1 |")


def test_plain_text_paragraphs_are_split_on_blank_lines_and_normalised() -> None:
    source = "Cafe\u0301   menu\x07\tlist\r\nsecond line\n\n  \n\nNext\u00a0\u00a0paragraph.\n"

    document = parse(source.encode(), PLAIN_TEXT)

    assert [block.text for block in document.blocks] == ["Café menu\tlist\nsecond line", "Next paragraph."]
    assert all(block.kind is BlockKind.paragraph and block.page is None for block in document.blocks)


def test_text_with_only_whitespace_has_no_text() -> None:
    with pytest.raises(ParseError, match="no text"):
        parse(b" \n\n\t\n", PLAIN_TEXT)


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ParseError, match="cannot be read"):
        parse(b"data", "image/png")
