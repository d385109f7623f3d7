"""Providers are built by name; one that lacks its key or host is a stand-in that is never called."""

from __future__ import annotations

import pytest

from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import ProviderConfig
from purpose_agent.llm.providers.openai import OpenAIProvider
from purpose_agent.llm.registry import Unconfigured, build_provider
from purpose_agent.llm.types import ChatRequest, Message

REQUEST = ChatRequest(messages=(Message("user", "Hello"),), temperature=0, max_tokens=5)


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini", "ollama"])
async def test_a_provider_without_what_it_needs_is_unconfigured_and_refuses_calls(name: str) -> None:
    provider = build_provider(ProviderConfig(name=name, model="m"))
    assert isinstance(provider, Unconfigured)
    assert (provider.name, provider.model, provider.configured) == (name, "m", False)
    with pytest.raises(ProviderError) as refused:
        await provider.complete(REQUEST)
    assert refused.value.reason is FailureReason.credentials_rejected
    with pytest.raises(ProviderError):
        await anext(provider.stream(REQUEST))
    await provider.aclose()


async def test_a_provider_with_its_key_is_the_vendor_s_adapter() -> None:
    provider = build_provider(ProviderConfig(name="openai", model="gpt-4o", api_key="sk-test"))
    assert isinstance(provider, OpenAIProvider)
    assert provider.configured
    await provider.aclose()
