"""How a question reaches the models: the chain of providers, deadlines, retries, breakers, prices."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from purpose_agent.settings.fields import group_config, listed
from purpose_agent.settings.providers import ProviderSettings
from purpose_agent.vocabulary import KNOWN_PROVIDERS

# US dollars per million prompt and completion tokens, for the usage records' cost estimate.
DEFAULT_PRICES = {
    "gemini/gemini-2.5-flash": (0.30, 2.50),
    "openai/gpt-4o": (2.50, 10.00),
    "anthropic/claude-sonnet-4-5": (3.00, 15.00),
}


class LlmSettings(BaseModel):
    """LLM routing"""

    model_config = group_config("llm_")

    chain: str = ",".join(KNOWN_PROVIDERS)
    """Providers tried in order. Known: gemini, openai, anthropic, ollama, local. A provider without
    credentials (no API key; for ollama no OLLAMA_BASE_URL) is skipped, reported at start and in
    /health/ready, and never called."""
    deadline_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    """The whole request, retries and failovers included, ends by this deadline."""
    heartbeat_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    """While a stream waits for its first token, a heartbeat goes out this often."""
    retry_base_seconds: Annotated[float, Field(ge=0, le=10)] = 0.25
    """Retries of transient failures: full-jitter exponential backoff from BASE, at most CAP (also caps
    Retry-After)."""
    retry_cap_seconds: Annotated[float, Field(ge=0, le=60)] = 4.0
    breaker_failure_threshold: Annotated[int, Field(ge=1, le=100)] = 5
    """A provider's breaker opens after THRESHOLD consecutive failures, or when at least MINIMUM_CALLS calls
    in WINDOW seconds failed at RATE or more; it lets one probe through after COOLDOWN seconds."""
    breaker_failure_rate: Annotated[float, Field(gt=0, le=1)] = 0.5
    breaker_minimum_calls: Annotated[int, Field(ge=1, le=10_000)] = 10
    breaker_window_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    breaker_cooldown_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    extractive_fallback: bool = True
    """When every model fails, answer by quoting the retrieved sentences that answer the question, with
    their citations (model_used "extractive"); false: a 503 problem listing each attempt."""
    local_answers: bool = False
    """Let the built-in local model (SmolLM2-135M) answer questions from the knowledge. Off: without a
    remote provider, the sentences of the passages that answer the question are quoted (model_used
    "extractive", well under a second). On: it answers, at most LOCAL_MAX_TOKENS tokens, and an answer
    the passages do not support is replaced by those quotes. Personas without retrieval always use it."""
    prices: dict[str, tuple[float, float]] = Field(default_factory=dict)
    """Prices for the usage records' cost estimate, US dollars per million prompt and completion tokens,
    merged over the built-in table, e.g. {"openai/gpt-4o-mini": [0.15, 0.6]}"""
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    """Provider settings as JSON by name, instead of the per-provider variables below (rarely needed)."""

    @field_validator("chain")
    @classmethod
    def _known_providers(cls, value: str) -> str:
        names = listed(value)
        unknown = [name for name in names if name not in KNOWN_PROVIDERS]
        if unknown:
            raise ValueError(f"unknown provider {unknown[0]!r} (known: {', '.join(KNOWN_PROVIDERS)})")
        if len(set(names)) != len(names):
            raise ValueError("a provider appears twice")
        return ",".join(names)

    @property
    def provider_names(self) -> list[str]:
        """The chain's providers, in order."""
        return listed(self.chain)

    def prices_with_defaults(self) -> dict[str, tuple[float, float]]:
        return {**DEFAULT_PRICES, **self.prices}
