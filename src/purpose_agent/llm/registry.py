"""Build the providers of a chain by name.

Each vendor's SDK is imported only when its provider is in the chain and has what it needs (a key,
a host): google-genai alone takes about a second to import, and the SDKs weigh 35 to 70 MB each in
every API process, while most deployments configure one to three providers of the default five.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import ConfiguredProvider, Provider, ProviderConfig
from purpose_agent.llm.types import ChatRequest, Completion, StreamPart

# What each remote provider cannot be called without.
NEEDED = {"openai": "api_key", "anthropic": "api_key", "gemini": "api_key", "ollama": "base_url"}


class Unconfigured(ConfiguredProvider):
    """A provider in the chain that lacks what it needs: never called, and its SDK never imported."""

    @property
    def configured(self) -> bool:
        return False

    async def complete(self, request: ChatRequest) -> Completion:
        raise self._missing()

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamPart]:
        raise self._missing()
        yield  # an async generator, as the protocol wants

    async def aclose(self) -> None:
        return None

    def _missing(self) -> ProviderError:
        needed = NEEDED[self.name].replace("_", " ")
        return ProviderError(self.name, FailureReason.credentials_rejected, f"not configured: no {needed}")


def build_provider(config: ProviderConfig) -> Provider:
    """The adapter for `config.name`, constructed (its HTTP client is created, nothing is called)."""
    if config.name in NEEDED and not getattr(config, NEEDED[config.name]):
        return Unconfigured(config)
    if config.name == "openai":
        from purpose_agent.llm.providers.openai import OpenAIProvider

        return OpenAIProvider(config)
    if config.name == "anthropic":
        from purpose_agent.llm.providers.anthropic import AnthropicProvider

        return AnthropicProvider(config)
    if config.name == "gemini":
        from purpose_agent.llm.providers.gemini import GeminiProvider

        return GeminiProvider(config)
    if config.name == "ollama":
        from purpose_agent.llm.providers.ollama import OllamaProvider

        return OllamaProvider(config)
    if config.name == "local":
        from purpose_agent.llm.providers.local import LocalProvider

        return LocalProvider(config)
    raise ValueError(f"unknown provider {config.name!r}")
