"""Shapes of the jobs API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

# procrastinate's job states; the last three are final.
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "aborted"})


class JobProgress(BaseModel):
    pages_parsed: int
    chunks_embedded: int
    # Known once the document is parsed and chunked; 0 before.
    chunks_total: int


class JobDocument(BaseModel):
    id: uuid.UUID
    source_name: str
    category: str
    status: str
    chunk_count: int


class JobRead(BaseModel):
    id: int
    task: str
    queue: str
    # todo | doing | succeeded | failed | cancelled | aborting | aborted
    status: str
    attempts: int
    created_at: datetime | None
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    # The last error of the job's subject, kept while it waits for a retry.
    error: str | None
    progress: JobProgress | None
    document: JobDocument | None
