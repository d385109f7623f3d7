"""The knowledge base's settings, and those of the jobs that ingest it and the worker that runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator

from purpose_agent.settings.fields import OptionalSecret, OptionalText, blank_is_none, group_config
from purpose_agent.vocabulary import EMBEDDER_KINDS


class KnowledgeSettings(BaseModel):
    """Knowledge base"""

    model_config = group_config()

    embedder: str = "local"
    """Embeddings: local (default: all-MiniLM-L6-v2 int8 on ONNX Runtime, offline, 384 dimensions),
    or openai | ollama | gemini with EMBEDDER_MODEL, EMBEDDER_BASE_URL, EMBEDDER_API_KEY and
    EMBEDDER_DIMENSION. The index remembers its embedder: changing it needs `purpose-agent reindex`."""
    embedder_model: OptionalText = None
    embedder_base_url: OptionalText = None
    embedder_api_key: OptionalSecret = None
    embedder_dimension: Annotated[
        Annotated[int, Field(ge=1, le=16_000)] | None, BeforeValidator(blank_is_none)
    ] = None
    embedder_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    """A remote embedder's call gives up after this long (connecting, and waiting for its answer); chat
    and search then answer 503 embedder-unavailable, and an ingestion job is retried."""
    embedder_max_tokens: Annotated[int, Field(ge=16, le=8192)] = 256
    """Chunk size limit in the embedder's own tokens (special tokens included), and the overlap between
    chunks."""
    chunk_overlap_tokens: Annotated[int, Field(ge=0, le=512)] = 32
    upload_max_bytes: Annotated[int, Field(ge=1024, le=1_073_741_824)] = 20 * 1024 * 1024
    """The largest document accepted (bytes; 20 MB). A larger upload gets 413 before anything is stored."""
    seed_dir: Annotated[Path, Field(alias="KNOWLEDGE_SEED_DIR")] = Path("knowledge")
    """The folder `purpose-agent up` (make run) ingests at start, one sub-folder per category; skipped when
    absent."""

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str) -> str:
        if value not in EMBEDDER_KINDS:
            raise ValueError(f"unknown embedder {value!r} (known: {', '.join(EMBEDDER_KINDS)})")
        return value


class JobsSettings(BaseModel):
    """Ingestion jobs and the worker"""

    model_config = group_config()

    ingest_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    """Each document's ingestion job: attempts in all, the time one attempt may take, and the backoff base
    (retries wait BASE, then BASE squared, ... seconds). A document that cannot be parsed is not retried."""
    ingest_timeout_seconds: Annotated[float, Field(gt=0, le=86_400)] = 600.0
    ingest_retry_backoff_seconds: Annotated[int, Field(ge=1, le=600)] = 5
    worker_concurrency: Annotated[int, Field(ge=1, le=32)] = 1
    """Jobs one worker runs at once (embedding is CPU-bound: one per worker suits a local embedder)."""
    worker_heartbeat_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    """A worker writes a heartbeat this often; one silent for STALLED_AFTER seconds is taken for dead and
    its running jobs are queued again. Every worker checks for that every CHECK seconds (1-59)."""
    worker_stalled_after_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    worker_stalled_check_seconds: Annotated[int, Field(ge=1, le=59)] = 15

    @model_validator(mode="after")
    def _stalled_after_heartbeats(self) -> JobsSettings:
        if self.worker_stalled_after_seconds <= self.worker_heartbeat_seconds:
            raise ValueError(
                "WORKER_STALLED_AFTER_SECONDS must be longer than WORKER_HEARTBEAT_SECONDS, "
                "or every busy worker would look dead"
            )
        return self
