"""What the knowledge tests share: the default embedder, loaded once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from purpose_agent.knowledge.embeddings.local import LocalEmbedder


@pytest.fixture(scope="session")
async def embedder() -> AsyncIterator[LocalEmbedder]:
    model = LocalEmbedder()
    yield model
    await model.aclose()
