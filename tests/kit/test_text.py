"""User text is NFC-normalised and loses its control characters before it is validated or used."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from purpose_agent.kit.text import clean_line, clean_multiline


@given(st.text())
def test_cleaned_text_is_nfc_without_control_characters(text: str) -> None:
    for cleaned in (clean_line(text), clean_multiline(text)):
        assert unicodedata.is_normalized("NFC", cleaned)
        assert all(unicodedata.category(c) != "Cc" or c in "\n\t" for c in cleaned)
    assert "\n" not in clean_line(text)
