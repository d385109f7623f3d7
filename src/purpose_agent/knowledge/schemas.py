"""Shapes of the knowledge API."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from purpose_agent.knowledge.models import CATEGORY_PATTERN
from purpose_agent.knowledge.search import SearchMode

CategoryName = Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]


class SearchRequest(BaseModel):
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    category: CategoryName | None = None
    top_k: Annotated[int, Field(ge=1, le=50)] = 5
    min_score: Annotated[float, Field(ge=-1, le=1)] | None = None
    mode: SearchMode = SearchMode.hybrid


class SearchResult(BaseModel):
    chunk_id: int
    document_id: uuid.UUID
    source_name: str
    category: str
    page: int | None
    heading_path: list[str]
    text: str
    score: float
    similarity: float | None
    vector_rank: int | None
    keyword_rank: int | None


class SearchResponse(BaseModel):
    results: list[SearchResult]
