"""The names that several domain packages share, so that none imports another's tables to learn them.

A persona's id appears in chat requests and in the personas API; a knowledge category in the
knowledge API, in a persona's definition and in the folder layout; each is checked against the same
pattern everywhere, the database's check constraints included.
"""

from __future__ import annotations

from typing import Final

PERSONA_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{1,62}$"
CATEGORY_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
