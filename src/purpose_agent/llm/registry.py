"""Build the providers of a chain by name.

Each vendor's SDK is imported only when its provider is in the chain: google-genai alone takes
about a second to import, and most deployments use two or three providers, not five.
"""

from __future__ import annotations

from purpose_agent.llm.providers.base import Provider, ProviderConfig


def build_provider(config: ProviderConfig) -> Provider:
    """The adapter for `config.name`, constructed (its HTTP client is created, nothing is called)."""
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
