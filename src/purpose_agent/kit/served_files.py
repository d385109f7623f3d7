"""A stored file served back as it was uploaded, safely: shown inline, never run, never sniffed.

What a user uploaded may be HTML (or anything a browser would run if it could): its response says
what it is (`Content-Type`, and `nosniff` so that the browser believes it), names it with a
`Content-Disposition` that no file name can break out of, and puts it in a sandbox
(`Content-Security-Policy: sandbox`: no script, no form, no same-origin access) that loads nothing at
all. Browsers still render PDFs, images and text under it. It is never cached by a shared cache: only
its reader may see it.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import quote

from starlette.responses import Response

SANDBOX_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_UNSAFE_IN_QUOTES = set('"\\%;')


def content_disposition(filename: str, disposition: str = "inline") -> str:
    """`inline; filename="…"; filename*=UTF-8''…` (RFC 6266): the last part of `filename`, in ASCII
    (anything else an underscore) for old clients and percent-encoded UTF-8 for the rest."""
    name = PurePosixPath(filename.replace("\\", "/")).name or "document"
    plain = "".join(ch if " " <= ch <= "~" and ch not in _UNSAFE_IN_QUOTES else "_" for ch in name)
    return f"{disposition}; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def served_file(data: bytes, *, media_type: str, filename: str) -> Response:
    """The response of a stored file, shown inline in a sandbox under its own type."""
    return Response(
        content=data,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(filename),
            "Content-Security-Policy": SANDBOX_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
