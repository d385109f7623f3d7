"""Shapes of the knowledge API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from purpose_agent.kit.text import MULTI_LINE, ONE_LINE, sent_at_most
from purpose_agent.knowledge.models import DocumentStatus
from purpose_agent.knowledge.registration import Registration, RegistrationOutcome
from purpose_agent.knowledge.search import SearchMode
from purpose_agent.vocabulary import CATEGORY_PATTERN

CategoryName = Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]


class SearchRequest(BaseModel):
    query: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
        ONE_LINE,
        sent_at_most(2000),
    ]
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
    # The fused score in hybrid mode; the similarity in vector mode, the keyword score in keyword mode.
    score: float
    # Cosine similarity to the query (null in keyword mode).
    similarity: float | None
    # BM25 over the best score the query could reach, 0..1 (null in vector mode).
    keyword_score: float | None
    # Rank among each side's candidates (null when the chunk was not one of that side's).
    vector_rank: int | None
    keyword_rank: int | None


class SearchResponse(BaseModel):
    results: list[SearchResult]


class CategoryCreate(BaseModel):
    name: CategoryName
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=2000), MULTI_LINE, sent_at_most(2000)
    ] = ""


class CategoryRead(BaseModel):
    name: str
    description: str
    documents: int
    created_at: datetime


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    category: str
    source_name: str
    sha256: str
    mime: str
    size_bytes: int
    pages: int | None
    status: DocumentStatus
    error: str | None
    attempts: int
    chunk_count: int
    job_id: int | None
    origin: str
    progress_pages: int
    progress_chunks: int
    progress_chunks_total: int
    created_at: datetime
    updated_at: datetime


class DocumentAccepted(BaseModel):
    document_id: uuid.UUID
    job_id: int | None
    status: DocumentStatus
    # created: a new document; replaced: new bytes for a known one; unchanged: the same bytes again.
    outcome: RegistrationOutcome

    @classmethod
    def of(cls, registration: Registration) -> DocumentAccepted:
        document = registration.document
        return cls(
            document_id=document.id,
            job_id=registration.job_id,
            status=DocumentStatus(document.status),
            outcome=registration.outcome,
        )
