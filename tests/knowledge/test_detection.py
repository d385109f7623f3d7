"""The type comes from the bytes: misleading names do not fool it, and non-documents are refused."""

from __future__ import annotations

import io
import random
import zipfile

import docx
import pytest
from fpdf import FPDF

from purpose_agent.knowledge.detection import (
    DOCX,
    HTML,
    MARKDOWN,
    PDF,
    PLAIN_TEXT,
    UnsupportedType,
    detect_type,
)

ELF_HEADER = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 200
PE_HEADER = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"


def create_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text="Hello")
    return bytes(pdf.output())


def create_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("Hello")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def create_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def rewrite_zip(data: bytes, name: str, replace: tuple[bytes, bytes]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    members = {item.filename: source.read(item) for item in source.infolist()}
    members[name] = members[name].replace(*replace)
    return create_zip(members)


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (create_pdf(), "notes.txt", PDF),
        (create_docx(), "report.pdf", DOCX),
        (b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", "notes.md", HTML),
        (b"\n  <html lang='en'><p>Hi</p></html>", None, HTML),
        (b"<div class='x'>Hello</div>", "page.txt", HTML),
        (b"# Title\n\nSome text.\n\n- one\n- two\n", "notes.txt", MARKDOWN),
        (b"| a | b |\n|---|---|\n| 1 | 2 |\n", None, MARKDOWN),
        (b"Just a note.\nNothing to see.\n", "page.html", PLAIN_TEXT),
    ],
)
def test_supported_types_are_detected_from_content(data: bytes, filename: str | None, expected: str) -> None:
    assert detect_type(data, filename) == expected


def test_markdown_name_breaks_the_tie_for_plain_prose() -> None:
    prose = b"Meeting notes.\n\nWe agreed to ship on Friday.\n"

    assert detect_type(prose, "notes.md") == MARKDOWN
    assert detect_type(prose, "notes.MARKDOWN") == MARKDOWN
    assert detect_type(prose, "notes.txt") == PLAIN_TEXT
    assert detect_type(prose) == PLAIN_TEXT


def test_readme_opening_with_html_is_still_markdown() -> None:
    readme = b'<p align="center"><img src="logo.png"></p>\n\n# Project\n\n## Usage\n\n```sh\nrun\n```\n'

    assert detect_type(readme, "README.md") == MARKDOWN


def test_utf8_text_with_bom_is_plain_text() -> None:
    assert detect_type("\ufeffPlain words, café.\n".encode(), "notes.txt") == PLAIN_TEXT


def test_text_starting_like_a_short_magic_number_is_still_text() -> None:
    assert detect_type(b"BMW and MZ are just letters here.\n") == PLAIN_TEXT


def test_empty_file_is_text_so_the_parser_can_say_it_is_empty() -> None:
    assert detect_type(b"", "empty.pdf") == PLAIN_TEXT


def test_elf_executable_renamed_pdf_is_refused_as_an_executable() -> None:
    with pytest.raises(UnsupportedType, match="ELF executable"):
        detect_type(ELF_HEADER, "invoice.pdf")


def test_windows_executable_is_refused() -> None:
    with pytest.raises(UnsupportedType, match="Windows executable"):
        detect_type(PE_HEADER, "setup.docx")


def test_png_is_refused_as_an_image() -> None:
    with pytest.raises(UnsupportedType, match="PNG image"):
        detect_type(PNG_HEADER + b"\x00" * 100, "scan.pdf")


def test_zip_that_is_not_docx_is_refused() -> None:
    with pytest.raises(UnsupportedType, match="ZIP archive"):
        detect_type(create_zip({"data.csv": b"a,b\n1,2\n"}), "report.docx")


def test_macro_enabled_word_document_is_refused() -> None:
    docm = rewrite_zip(
        create_docx(),
        "[Content_Types].xml",
        (
            b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            b"application/vnd.ms-word.document.macroEnabled.main+xml",
        ),
    )

    with pytest.raises(UnsupportedType, match="macro-enabled"):
        detect_type(docm, "report.docx")


def test_damaged_docx_is_still_routed_to_the_docx_parser() -> None:
    # The parser then reports it as a damaged Word document, which is what the user needs to hear.
    data = create_docx()

    assert detect_type(data[: len(data) // 2], "report.docx") == DOCX


def test_random_binary_is_refused() -> None:
    junk = random.Random(7).randbytes(4096)

    with pytest.raises(UnsupportedType, match="binary data"):
        detect_type(junk, "notes.txt")


def test_text_in_another_encoding_is_refused_with_a_hint() -> None:
    with pytest.raises(UnsupportedType, match="UTF-8"):
        detect_type("Grüße aus Köln, à bientôt.".encode("latin-1"), "notes.txt")


def test_rtf_is_refused_rather_than_indexed_as_text() -> None:
    with pytest.raises(UnsupportedType, match="RTF"):
        detect_type(b"{\\rtf1\\ansi Hello}", "letter.txt")


def test_text_full_of_control_characters_is_refused() -> None:
    with pytest.raises(UnsupportedType):
        detect_type(b"\x01\x02\x03\x04\x05abc\x06\x07\x08" * 50)
