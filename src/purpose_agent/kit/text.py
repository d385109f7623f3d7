"""Text as the API takes it: NFC-normalised, control characters removed, stripped.

User-supplied strings are cleaned before validation, so lengths and patterns are checked on what
is stored, and no invisible control character reaches a prompt, a log line or a search index.
The length a field documents is also held against the text as sent (`sent_at_most`): a client reading
the OpenAPI document's maxLength is never told one thing and answered another.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import BeforeValidator

# Whitespace controls that separate words: kept as such in instructions, a space in one-line fields.
_LINE_BREAKS = "\r\n\t\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def clean_line(value: Any) -> Any:
    """One-line text: NFC, line breaks and tabs as spaces, other control characters removed, stripped."""
    if not isinstance(value, str):
        return value
    spaced = "".join(" " if char in _LINE_BREAKS else char for char in value)
    return _normalise(spaced)


def clean_multiline(value: Any) -> Any:
    """Text of lines: NFC, newlines (\\r\\n and \\r become \\n) and tabs kept, other controls removed."""
    if not isinstance(value, str):
        return value
    return _normalise(value.replace("\r\n", "\n").replace("\r", "\n"), keep="\n\t")


def sent_at_most(chars: int) -> BeforeValidator:
    """Refuse text longer than `chars` as sent, before cleaning could shorten it.

    Placed last in `Annotated[...]` so that it runs first (pydantic runs before-validators last to first).
    """

    def check(value: Any) -> Any:
        if isinstance(value, str) and len(value) > chars:
            raise ValueError(f"String should have at most {chars} characters")
        return value

    return BeforeValidator(check)


def _normalise(value: str, keep: str = "") -> str:
    kept = "".join(char for char in value if char in keep or unicodedata.category(char) != "Cc")
    return unicodedata.normalize("NFC", kept).strip()


# Placed after a type's constraints (Annotated[str, StringConstraints(...), MULTI_LINE]): the cleaning
# still runs first, and pydantic keeps its usual string messages ("at least 1 character").
ONE_LINE = BeforeValidator(clean_line)
MULTI_LINE = BeforeValidator(clean_multiline)
