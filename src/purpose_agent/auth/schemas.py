"""Shapes of the authentication and key/user administration API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from purpose_agent.auth.principal import Operation, Role
from purpose_agent.auth.quotas import QuotaName
from purpose_agent.kit.text import ONE_LINE, sent_at_most
from purpose_agent.vocabulary import PERSONA_ID_PATTERN

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), ONE_LINE, sent_at_most(200)
]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), ONE_LINE, sent_at_most(64)
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class TokenRequest(BaseModel):
    username: Username
    password: Password


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


AgentId = Annotated[str, StringConstraints(pattern=PERSONA_ID_PATTERN)]
MAX_SCOPED_AGENTS = 1000


def _distinct(values: list[str] | None) -> list[str] | None:
    return sorted(set(values)) if values is not None else None


class ScopeFields(BaseModel):
    """What a key or user is limited to; null (the default) is no limit of that kind."""

    agents: Annotated[
        list[AgentId] | None,
        Field(
            max_length=MAX_SCOPED_AGENTS,
            description="The agents (persona ids) it may use, and so search only their knowledge "
            "categories; null: every agent. Each must exist.",
        ),
        AfterValidator(_distinct),
    ] = None
    operations: Annotated[
        list[Operation] | None,
        Field(
            description="What it may do: chat (REST, stream, sessions, /v1, MCP ask_agent), search "
            "(/api/knowledge/search, MCP search_knowledge), mcp (/api/mcp at all); null: everything."
        ),
        AfterValidator(_distinct),
    ] = None


RequestsQuota = Annotated[int, Field(ge=1, le=1_000_000_000, description="Admitted requests per UTC day.")]
TokensQuota = Annotated[
    int, Field(ge=1, le=10**15, description="Prompt plus completion tokens of its answers per UTC day.")
]
CostQuota = Annotated[
    float,
    Field(
        ge=0.000001,  # a micro-dollar: counted in nano-dollars, a far smaller one would round to 0
        le=1_000_000_000,
        allow_inf_nan=False,
        description="Estimated cost of its answers in US dollars per UTC calendar month (LLM_PRICES).",
    ),
]


class KeyLimits(ScopeFields):
    """A key's scope and quotas; a quota left null is none (reaching one gives 429 until it resets)."""

    requests_per_day: RequestsQuota | None = None
    tokens_per_day: TokensQuota | None = None
    cost_per_month_usd: CostQuota | None = None


class KeyCreate(KeyLimits):
    name: Name
    role: Role = Role.user
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class KeyUpdate(KeyLimits):
    """The fields sent replace the key's (null lifts that limit); those left out stay as they are."""

    name: Name | None = None


class KeyRead(KeyLimits):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyLimits):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    expires_at: datetime | None
    # Shown here once; only its digest is stored.
    key: str


class UserCreate(ScopeFields):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
    ]
    password: Password
    role: Role = Role.user


class UserUpdate(ScopeFields):
    """The fields sent replace the user's (null agents or operations lifts that limit); those left out
    stay as they are."""

    role: Role | None = None
    disabled: bool | None = None
    password: Password | None = None


class UserRead(ScopeFields):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class UsageTotals(BaseModel):
    requests: int = Field(description="Requests admitted (authenticated and within the quotas).")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float = Field(description="Estimated from the price table (LLM_PRICES); 0 for unpriced models.")


class DayUsageRead(UsageTotals):
    day: date


class QuotaUseRead(BaseModel):
    quota: QuotaName
    limit: int | float | None = Field(description="null: this key has no such quota (use is still counted).")
    used: int | float = Field(description="Used in the current period (a UTC day, or month for the cost).")
    remaining: int | float | None
    reset: datetime = Field(description="When the current period ends and the count starts again.")


class KeyUsageRead(BaseModel):
    key_id: uuid.UUID
    name: str
    start: date
    end: date
    days: list[DayUsageRead] = Field(description="Every day from start to end, oldest first.")
    total: UsageTotals
    quotas: list[QuotaUseRead] = Field(description="Each quota now, as the 429 refusals count it.")
