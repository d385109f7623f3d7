"""The names that several packages share, so that none imports another (or its tables) to learn them.

A persona's id appears in chat requests and in the personas API; a knowledge category in the
knowledge API, in a persona's definition and in the folder layout; each is checked against the same
pattern everywhere, the database's check constraints included. The LLM providers and the embedder
kinds are chosen by setting and built by the domain: the settings check a chosen name, personas
accept provider names, the knowledge layer builds an embedder by kind.
"""

from __future__ import annotations

from typing import Final

PERSONA_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{1,62}$"
CATEGORY_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"

# The LLM providers, in the order of the default chain.
KNOWN_PROVIDERS: Final = ("gemini", "openai", "anthropic", "ollama", "local")
# The one that runs in-process with nothing configured (SmolLM2-135M): chat vets its answers.
BUILT_IN_PROVIDER: Final = "local"

# local: all-MiniLM-L6-v2 on ONNX Runtime, offline; the others call a vendor's API.
EMBEDDER_KINDS: Final = ("local", "openai", "ollama", "gemini")
