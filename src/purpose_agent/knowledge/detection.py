"""Decide what an uploaded file is from its bytes, never from what the client says it is.

A client's `Content-Type` and file name are whatever the uploader's browser or script chose: a
renamed executable, a `.pdf` that is really a ZIP, a `.txt` that is really a PDF. Routing bytes to
a parser on that say-so would hand hostile or simply mislabelled input to the wrong parser, and
the user would get a confusing parse failure instead of "this is not a document we read". So the
type is decided here from the content itself: magic bytes for PDF, the ZIP's actual member list
for DOCX, the leading markup for HTML, and a strict UTF-8 check for text. The file name is used
only to break a tie between Markdown and plain text, where both readings of the bytes are valid.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile

import puremagic

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
PLAIN_TEXT = "text/plain"

SUPPORTED_TYPES = (PDF, DOCX, HTML, MARKDOWN, PLAIN_TEXT)

# Formats users commonly upload by mistake, named so the message says what the file is. These are
# checked before puremagic because its guesses for them are sometimes odd (a PE file can come back
# as "ZoneAlarm data file"), and the list also keeps text-looking formats such as RTF and PostScript
# from being indexed as plain text full of control words. The third field marks short magics that
# printable text can start with ("BMW ...", "MZ ..."): those count only when the bytes are not text.
_KNOWN_UNSUPPORTED: tuple[tuple[bytes, str, bool], ...] = (
    (b"\x7fELF", "an ELF executable", False),
    (b"MZ", "a Windows executable", True),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable", False),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable", False),
    (b"\xca\xfe\xba\xbe", "a Mach-O or Java class binary", False),
    (b"\x00asm", "a WebAssembly binary", False),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", False),
    (b"\xff\xd8\xff", "a JPEG image", False),
    (b"GIF87a", "a GIF image", False),
    (b"GIF89a", "a GIF image", False),
    (b"BM", "a BMP image", True),
    (b"II*\x00", "a TIFF image", False),
    (b"MM\x00*", "a TIFF image", False),
    (b"\x1f\x8b", "a gzip archive", False),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", False),
    (b"Rar!\x1a\x07", "a RAR archive", False),
    (b"BZh", "a bzip2 archive", True),
    (b"\xfd7zXZ\x00", "an xz archive", False),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy Microsoft Office file (.doc/.xls/.ppt); save it as .docx",
        False,
    ),
    (b"{\\rtf", "an RTF document; save it as .docx or PDF", False),
    (b"%!PS", "a PostScript file; convert it to PDF", False),
)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# A Word document's parts number in the tens (hundreds with many images); 0xFFFF in the end record
# means a ZIP64 archive of more members still, which no Word document is.
MAX_ZIP_ENTRIES = 10_000
_DOCX_MAIN_PART = "word/document.xml"
_DOCX_MAIN_CONTENT_TYPE = b"wordprocessingml.document.main+xml"
_MARKDOWN_SUFFIXES = (".md", ".markdown")

_HTML_STRONG = re.compile(rb"<(!doctype\s+html|html|head|body)[\s>]")
_HTML_TAG = re.compile(
    rb"<(meta|title|link|style|script|div|p|h[1-6]|table|ul|ol|section|article|main|header|span|a|br)[\s>/]"
)
_HTML_COMMENT = re.compile(rb"<!--.*?-->\s*", re.DOTALL)

# Markdown signals, each worth points once however often it occurs; a plain-text note can contain a
# stray "- item", but a heading plus a list, or a table, is Markdown.
_MARKDOWN_SIGNALS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE), 2),
    (re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE), 2),
    (re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$", re.MULTILINE), 3),
    (re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"), 2),
    (re.compile(r"^[ \t]*([-*+]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE), 1),
    (re.compile(r"(\*\*|__)\S[^\n]*?\S\1|`[^`\n]+`"), 1),
    (re.compile(r"^\S[^\n]*\n(=+|-+)[ \t]*$", re.MULTILINE), 1),
)
_MARKDOWN_THRESHOLD = 3

# Text with more than this share of control characters (other than tab, newline, CR, form feed) is
# treated as binary: real prose has none, a terminal log with colour codes has a few percent.
_MAX_CONTROL_RATIO = 0.05
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


class UnsupportedType(Exception):
    """The uploaded bytes are not a document type we can read; the message is meant for the user."""


def detect_type(data: bytes, filename: str | None = None) -> str:
    """Return the MIME type of `data`, judged from its content, or raise `UnsupportedType`."""
    head = data[:1024]
    if head.lstrip(b" \t\r\n").startswith(b"%PDF-"):
        return PDF
    if head.startswith(_ZIP_MAGIC):
        return _detect_zip(data)
    text = _decode_text(data)
    for magic, name, only_if_binary in _KNOWN_UNSUPPORTED:
        if head.startswith(magic) and not (only_if_binary and text is not None):
            raise _refusal(name)
    if text is None:
        raise _refusal(_name_binary(data))
    if _looks_like_html(head, text):
        return HTML
    is_markdown_name = filename is not None and filename.lower().endswith(_MARKDOWN_SUFFIXES)
    if is_markdown_name or _markdown_score(text) >= _MARKDOWN_THRESHOLD:
        return MARKDOWN
    return PLAIN_TEXT


def _refusal(description: str) -> UnsupportedType:
    # Descriptions may carry advice after a semicolon: "an RTF document; save it as .docx or PDF".
    what, _, advice = description.partition("; ")
    return UnsupportedType(
        f"the file is {what}, not a supported document" + (f"; {advice}" if advice else "")
    )


def zip_entries(data: bytes) -> int | None:
    """How many members a ZIP archive's end record says it holds, read before anything else of it is:
    zipfile builds an object per member, so an upload of empty members would cost memory per member.
    None when the record is missing (the archive is damaged; zipfile says so)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or end + 12 > len(data):
        return None
    return int.from_bytes(data[end + 10 : end + 12], "little")


def _detect_zip(data: bytes) -> str:
    entries = zip_entries(data)
    if entries is not None and entries > MAX_ZIP_ENTRIES:
        raise UnsupportedType(
            f"the file is a ZIP archive of {entries} members, not a supported document "
            f"(a Word document has at most {MAX_ZIP_ENTRIES})"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            content_types = _read_small(archive, "[Content_Types].xml")
    except Exception:
        # zipfile signals damage with many types (BadZipFile, zlib.error, NotImplementedError...).
        # A damaged archive whose own local headers name the Word main part is a damaged DOCX: route
        # it to the DOCX parser so the user hears "damaged Word document", not "unsupported type".
        if _DOCX_MAIN_PART.encode() in data[:65536]:
            return DOCX
        raise UnsupportedType("the file is a damaged ZIP archive, not a supported document") from None
    if _DOCX_MAIN_PART not in names:
        raise UnsupportedType("the file is a ZIP archive, not a supported document")
    if content_types is None or _DOCX_MAIN_CONTENT_TYPE in content_types:
        # Without its content-type list the package is broken; the parser says so.
        return DOCX
    if b"macroEnabled" in content_types:
        raise _refusal("a macro-enabled Word document (.docm); save it as a plain .docx")
    raise _refusal("a Word template or another Office Open XML variant; save it as .docx")


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes | None:
    # The member's declared size is checked first so a crafted archive cannot inflate gigabytes here.
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    return archive.read(info) if info.file_size <= 1_000_000 else None


def _decode_text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return text if _control_ratio(text) <= _MAX_CONTROL_RATIO else None


def _control_ratio(text: str) -> float:
    return len(_CONTROL_CHARS.findall(text)) / len(text) if text else 0.0


def _name_binary(data: bytes) -> str:
    head = data[:4096]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16 text; save it as UTF-8 text"
    if b"\x00" not in head and _control_ratio(head.decode("latin-1")) <= _MAX_CONTROL_RATIO:
        return "text in an encoding other than UTF-8; save it as UTF-8"
    try:
        matches = puremagic.magic_string(data[:8192])
    except (puremagic.PureError, ValueError):
        return "binary data of an unknown kind"
    # Low-confidence puremagic guesses are often wrong, and a wrong name is worse than none.
    if matches and matches[0].confidence >= 0.8 and matches[0].name:
        return f"binary data that looks like: {matches[0].name}"
    return "binary data of an unknown kind"


def _looks_like_html(head: bytes, text: str) -> bool:
    start = head.removeprefix(codecs.BOM_UTF8).lstrip().lower()
    if start.startswith(b"<?xml"):
        # XHTML: an XML declaration followed by an <html> root within the first kilobyte.
        return _HTML_STRONG.search(start) is not None
    start = _HTML_COMMENT.sub(b"", start)
    if _HTML_STRONG.match(start):
        return True
    if not _HTML_TAG.match(start):
        return False
    # A README that opens with `<p align="center">` is still Markdown if the rest says so.
    return _markdown_score(text) < _MARKDOWN_THRESHOLD


def _markdown_score(text: str) -> int:
    # The signals show in the first pages if at all; a bounded window keeps the regexes linear-time.
    sample = text[:65536]
    return sum(points for pattern, points in _MARKDOWN_SIGNALS if pattern.search(sample))
