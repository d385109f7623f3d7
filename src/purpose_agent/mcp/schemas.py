"""What the MCP tools return (their output schemas), and GET /api/mcp/tools."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from purpose_agent.chat.extractive import ExtractiveReason
from purpose_agent.chat.schemas import ChatUsage, Citation
from purpose_agent.personas.schemas import AgentRead


class AskAgentResult(BaseModel):
    answer: str
    citations: list[Citation] = Field(description="The passages the answer cites as [n].")
    model_used: str = Field(
        description='provider/model that answered; "extractive" (sentences of the passages quoted, see '
        'extractive_reason); "none" (the knowledge holds nothing on the question, no model was asked).'
    )
    session_id: uuid.UUID = Field(description="Send it with the next question to continue the conversation.")
    usage: ChatUsage
    abstained: bool = Field(description="True when the agent said it does not know.")
    grounded: bool | None = Field(
        description="Whether the passages support every statement of the answer; null when not checked."
    )
    unsupported: list[str] = Field(description="The answer's sentences the passages do not support.")
    extractive_reason: ExtractiveReason | None = Field(
        description='Why the passages were quoted: "default" (no remote model configured), '
        '"models_failed", or "ungrounded" (the built-in model\'s answer was not supported by them).'
    )


class KnowledgeHit(BaseModel):
    rank: int
    source: str = Field(description="The document's name.")
    category: str
    page: int | None
    heading: str = Field(description='The heading path of the passage, as "Chapter > Section".')
    snippet: str
    score: float = Field(description="Cosine similarity to the query, -1 to 1 (higher is closer).")
    document_id: uuid.UUID
    chunk_id: int


class SearchKnowledgeResult(BaseModel):
    results: list[KnowledgeHit]


class AgentsResult(BaseModel):
    agents: list[AgentRead]


class ToolRead(BaseModel):
    """One MCP tool as `tools/list` describes it."""

    name: str
    title: str | None
    description: str | None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
