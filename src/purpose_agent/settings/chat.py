"""The personas chats are held with, and how long a conversation and its cached parts live."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from purpose_agent.settings.fields import group_config


class ChatSettings(BaseModel):
    """Personas and chat"""

    model_config = group_config()

    personas_file: Path = Path("config/personas.json")
    """Personas upserted at every start (JSON or YAML; skipped when absent); `purpose-agent personas export`
    writes this format."""
    session_ttl_hours: Annotated[float, Field(gt=0, le=24 * 365)] = 24.0
    """A conversation ends this many hours after its last message (the expiry slides with each message)."""
    history_token_budget: Annotated[int, Field(ge=0, le=100_000)] = 1500
    """Earlier turns sent with each question, newest first, up to this many of the embedder's tokens."""
    session_cleanup_batch: Annotated[int, Field(ge=1, le=100_000)] = 500
    """The worker deletes expired sessions in batches of this size."""
    persona_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
    """Seconds an API process reuses a persona. Changes made anywhere are announced through PostgreSQL
    and dropped at once; this bounds staleness while a process cannot listen."""
