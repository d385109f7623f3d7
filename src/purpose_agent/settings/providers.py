"""Each LLM provider's settings, read from the variables with its prefix: OPENAI_API_KEY, OPENAI_MODEL, ..."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from purpose_agent.secrets import SecretCache
from purpose_agent.settings.errors import SettingsError, describe_settings_error
from purpose_agent.settings.fields import OptionalSecret, OptionalText
from purpose_agent.settings.sources import SECRET_CACHE_KEY, EnvironmentSettings

# The model each provider calls unless its _MODEL says otherwise (ollama has none: name one).
DEFAULT_MODELS = {
    "gemini": "gemini-2.5-flash",
    "openai": "gpt-4o",
    "anthropic": "claude-sonnet-4-5",
    "ollama": "",
    "local": "smollm2-135m-instruct",
}


class ProviderSettings(EnvironmentSettings):
    """LLM providers

    Per provider, with its prefix GEMINI_, OPENAI_, ANTHROPIC_, OLLAMA_ or LOCAL_ (or all of one
    provider's as JSON in LLM_PROVIDERS), these variables; each provider's usual ones follow. The
    built-in local model needs nothing: SmolLM2-135M-Instruct ships in a package.
    """

    model_config = SettingsConfigDict(use_attribute_docstrings=True)

    api_key: OptionalSecret = None
    base_url: OptionalText = None
    """Any OpenAI-compatible server works for OPENAI_BASE_URL."""
    model: str = ""
    """Each provider but ollama has a default, shown below."""
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 5.0
    read_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 1000
    """Open at once per API process; a stream holds one for its whole answer."""
    model_path: OptionalText = None
    """The built-in local provider only: any GGUF file instead of the bundled SmolLM2."""
    max_queued: Annotated[int, Field(ge=0, le=1000)] = 4
    """The built-in local provider only: it generates one answer at a time; this many more may wait,
    the next is refused at once (the router moves on, or a 503 problem)."""
    max_tokens: Annotated[int, Field(ge=16, le=32_000)] = 256
    """The built-in local provider only: it writes at most this many tokens per answer, whatever a persona
    or a request asks (a tiny model repeats itself when let run; 256 tokens take about 5 s on 2 idle
    cores, 12 s with one busy)."""


def read_provider_settings(
    chain: list[str], given: dict[str, ProviderSettings], secret_cache: SecretCache | None
) -> dict[str, ProviderSettings]:
    """Each provider of the chain: as `given` (LLM_PROVIDERS), else from its prefixed variables.

    The secret ones come through `secret_cache`, the one the other secret settings came through: one
    fetch serves them all. A bad value raises `SettingsError` naming its variable.
    """
    providers = {}
    for name in chain:
        prefix = f"{name.upper()}_"
        if name in given:
            provider = given[name].model_copy()
        else:
            try:
                cache: dict[str, Any] = {SECRET_CACHE_KEY: secret_cache}
                provider = ProviderSettings(_env_prefix=prefix, **cache)
            except ValidationError as exc:
                raise SettingsError(describe_settings_error(exc, prefix=prefix)) from None
        if not provider.model:
            provider.model = DEFAULT_MODELS[name]
        if not provider.model and (provider.api_key or provider.base_url):
            raise SettingsError(f"invalid setting {prefix}MODEL: {name} is configured but has no model")
        providers[name] = provider
    return providers
