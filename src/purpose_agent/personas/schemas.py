"""Shapes of the personas API, also the shape of one persona in a personas file."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from purpose_agent.kit.text import clean_line, clean_multiline, sent_at_most
from purpose_agent.vocabulary import CATEGORY_PATTERN, KNOWN_PROVIDERS, PERSONA_ID_PATTERN


def _known_provider(name: str) -> str:
    if name not in KNOWN_PROVIDERS:
        raise ValueError(f"unknown provider {name!r} (known: {', '.join(KNOWN_PROVIDERS)})")
    return name


# A model's name as vendors spell them ("gpt-4o", "llama3.1:8b", "meta-llama/Llama-3-8B",
# "claude-3@20240229"); never a URL or a path that climbs: some vendors' SDKs put the name into the
# request's URL, and a persona must not point a call at another host or endpoint.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")


def _model_name(name: str) -> str:
    if not _MODEL_NAME.fullmatch(name) or "://" in name or ".." in name or "//" in name:
        raise ValueError("a model name has letters, digits and . _ : / @ + - only, and is not a URL or path")
    return name


def _no_repeats(names: list[str]) -> list[str]:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} named more than once")
    return names


PersonaId = Annotated[str, StringConstraints(pattern=PERSONA_ID_PATTERN)]
CategoryName = Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]
# The validator wraps the constraints: lengths are those of the cleaned text.
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200), BeforeValidator(clean_line), sent_at_most(200)
]
Description = Annotated[
    str, StringConstraints(max_length=2000), BeforeValidator(clean_line), sent_at_most(2000)
]
Instructions = Annotated[
    str, StringConstraints(max_length=8000), BeforeValidator(clean_multiline), sent_at_most(8000)
]
ModelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_model_name),
    BeforeValidator(clean_line),
    sent_at_most(200),
]
ProviderName = Annotated[str, AfterValidator(_known_provider)]
ProviderChain = Annotated[list[ProviderName], Field(min_length=1), AfterValidator(_no_repeats)]

DEFAULT_TEMPERATURE = 0.3
DEFAULT_MAX_TOKENS = 1024
DEFAULT_TOP_K = 5
DEFAULT_MIN_SCORE = 0.3


class PersonaUpdate(BaseModel):
    """Every field of a persona but its id: a PUT replaces them all (left out: the default).

    Numbers are strict: `true` or `"0.5"` is a mistake to name, not a value to guess.
    """

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    # Style and tone only: the answering rules (cite, stay in the category, abstain) are fixed elsewhere.
    instructions: Instructions = ""
    # Off: a plain assistant with this persona's style, model settings and limits; it searches no
    # knowledge, cites nothing and never abstains (the service as a gateway with personas and failover).
    retrieval: Annotated[bool, Field(strict=True)] = True
    # No foreign key: a persona may be defined before its category holds documents. Needed only
    # with retrieval on.
    knowledge_category: Annotated[CategoryName | None, Field(validate_default=True)] = None
    temperature: Annotated[float, Field(ge=0, le=2, strict=True)] = DEFAULT_TEMPERATURE
    max_tokens: Annotated[int, Field(ge=1, le=32_000, strict=True)] = DEFAULT_MAX_TOKENS
    # Providers tried in order instead of the service's LLM_CHAIN; null: the service's chain.
    llm_chain: ProviderChain | None = None
    # One model name used on every provider of the chain; null: each provider's own.
    llm_model: ModelName | None = None
    top_k: Annotated[int, Field(ge=1, le=50, strict=True)] = DEFAULT_TOP_K
    # The cosine similarity a passage must reach to be context; none reach it: the agent abstains.
    min_score: Annotated[float, Field(ge=-1, le=1, strict=True)] = DEFAULT_MIN_SCORE

    @field_validator("knowledge_category")
    @classmethod
    def _needed_when_retrieving(cls, category: str | None, info: ValidationInfo) -> str | None:
        # `retrieval` is missing from `info.data` only when it was invalid: that error is named already.
        if category is None and info.data.get("retrieval", False):
            raise PydanticCustomError("missing", "Field required unless retrieval is false")
        return category


class PersonaCreate(PersonaUpdate):
    id: PersonaId


class PersonaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str
    instructions: str
    retrieval: bool
    knowledge_category: str | None
    temperature: float
    max_tokens: int
    llm_chain: list[str] | None
    llm_model: str | None
    top_k: int
    min_score: float
    created_at: datetime
    updated_at: datetime


class AgentRead(BaseModel):
    """What a caller needs to pick an agent: no model settings, no instructions."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str
    # null for an agent with retrieval off: it answers without a knowledge base.
    knowledge_category: str | None
