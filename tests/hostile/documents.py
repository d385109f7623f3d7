"""Hostile documents, made byte by byte: archives that inflate a thousandfold, PDFs whose structure loops
or whose streams inflate without end. Each is small on the wire; what it costs is in the parsing."""

from __future__ import annotations

import io
import zipfile
import zlib

_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)
_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    b'Target="word/document.xml"/></Relationships>'
)
_W = b"http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bomb(unpacked_bytes: int) -> bytes:
    """A Word document whose body is `unpacked_bytes` of short paragraphs: about a thousandth of that
    on the wire, millions of XML elements once opened."""
    paragraph = b"<w:p><w:r><w:t>Descale the kettle.</w:t></w:r></w:p>"
    head = b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="' + _W + b'"><w:body>'
    tail = b"</w:body></w:document>"
    count = max(1, (unpacked_bytes - len(head) - len(tail)) // len(paragraph))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(head)
            block = paragraph * 10_000
            for _ in range(count // 10_000):
                part.write(block)
            part.write(paragraph * (count % 10_000))
            part.write(tail)
    return buffer.getvalue()


def zip_bomb(unpacked_bytes: int) -> bytes:
    """A plain ZIP archive holding one member of `unpacked_bytes` zeros."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        block = bytes(1 << 20)
        for _ in range(unpacked_bytes >> 20):
            member.write(block)
    return buffer.getvalue()


def _pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF of these objects (numbered from 1), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def _stream(data: bytes, *, deflate: bool = False, extra: bytes = b"") -> bytes:
    body = zlib.compress(data, 9) if deflate else data
    filters = b" /Filter /FlateDecode" if deflate else b""
    return b"<< /Length %d%s %s >>\nstream\n" % (len(body), filters, extra) + body + b"\nendstream"


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_TEXT = b"BT /F1 12 Tf 72 720 Td (Descale the kettle every month.) Tj ET"


def pdf_cyclic_pages() -> bytes:
    """A page tree whose intermediate node lists itself among its kids: walking it never ends."""
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(_TEXT),
            _FONT,
        ]
    )


def pdf_flate_bomb(unpacked_bytes: int) -> bytes:
    """One page whose content stream inflates from about a thousandth of `unpacked_bytes` to all of it."""
    filler = b"% " + b"0" * 1022 + b"\n"
    content = _TEXT + b"\n" + filler * (unpacked_bytes // len(filler))
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(content, deflate=True),
            _FONT,
        ]
    )


def pdf_self_drawing_form() -> bytes:
    """A page that draws a form XObject which draws itself: a text walk that follows it recurses forever."""
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> >>",
            _stream(_TEXT + b"\n/X1 Do"),
            _FONT,
            _stream(
                _TEXT + b"\n/X1 Do",
                extra=b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                b"/Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >>",
            ),
        ]
    )


def pdf_deep_nesting(depth: int) -> bytes:
    """A page dictionary holding an array nested `depth` deep: a recursive reader runs out of stack."""
    nested = b"[" * depth + b"]" * depth
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> /Junk " + nested + b" >>",
            _stream(_TEXT),
            _FONT,
        ]
    )


def pdf_huge_page_count() -> bytes:
    """A page tree that claims a billion pages and holds one."""
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 3 0 R 3 0 R 3 0 R] /Count 1000000000 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(_TEXT),
            _FONT,
        ]
    )


def zip_of_many_members(count: int) -> bytes:
    """A ZIP that names a Word body among `count` empty members: zipfile makes an object of each."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("word/document.xml", b"<w:document/>")
        for number in range(count):
            archive.writestr(str(number), b"")
    return buffer.getvalue()


def docx_calling_out(url: str) -> bytes:
    """A Word document that points at `url` every way the format allows: an external entity in its
    XML, an externally linked image, a hyperlink and an attached template."""
    document = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<!DOCTYPE w:document [<!ENTITY fetched SYSTEM "' + url.encode() + b'/xxe">]>'
        b'<w:document xmlns:w="' + _W + b'" '
        b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><w:body>'
        b"<w:p><w:r><w:t>The kettle holds 1.7 litres. &fetched;</w:t></w:r></w:p>"
        b'<w:p><w:hyperlink r:id="rIdLink"><w:r><w:t>manual</w:t></w:r></w:hyperlink></w:p>'
        b"</w:body></w:document>"
    )
    relationships = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rIdLink" TargetMode="External" Target="' + url.encode() + b'/link" '
        b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"/>'
        b'<Relationship Id="rIdImage" TargetMode="External" Target="' + url.encode() + b'/image.png" '
        b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"/>'
        b'<Relationship Id="rIdTemplate" TargetMode="External" Target="' + url.encode() + b'/template.dotx" '
        b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate"/>'
        b"</Relationships>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("word/document.xml", document)
        archive.writestr("word/_rels/document.xml.rels", relationships)
    return buffer.getvalue()


def pdf_calling_out(url: str) -> bytes:
    """A PDF whose page links to `url`, opens it on open, and embeds a file specification of it."""
    target = url.encode()
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /URI /URI (" + target + b"/open) >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> /Annots [6 0 R 7 0 R] >>",
            _stream(_TEXT),
            _FONT,
            b"<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] /A << /S /URI /URI ("
            + target
            + b"/link) >> >>",
            b"<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] "
            b"/A << /S /GoToR /F << /Type /Filespec /FS /URL /F ("
            + target
            + b"/remote.pdf) >> /D [0 /Fit] >> >>",
        ]
    )


def html_calling_out(url: str) -> bytes:
    """An HTML page that loads `url` every way a browser would: image, script, style, frame, refresh."""
    return (
        f'<!DOCTYPE html><html><head><meta http-equiv="refresh" content="0; url={url}/refresh">'
        f'<link rel="stylesheet" href="{url}/style.css"><script src="{url}/script.js"></script>'
        f'<base href="{url}/"></head><body><h1>Kettle</h1><p>The kettle holds 1.7 litres.</p>'
        f'<img src="{url}/image.png"><iframe src="{url}/frame"></iframe>'
        f'<object data="{url}/object"></object><video src="{url}/video"></video></body></html>'
    ).encode()


def markdown_calling_out(url: str) -> bytes:
    """A Markdown file with an image, a link and raw HTML that point at `url`."""
    return (
        f"# Kettle\n\nThe kettle holds 1.7 litres.\n\n![diagram]({url}/diagram.png)\n\n"
        f'[manual]({url}/manual)\n\n<img src="{url}/raw.png">\n'
    ).encode()
