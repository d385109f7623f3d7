"""Fixtures for the OpenAI and Anthropic fake servers, shared by the router and the chat tests.

One server of each per test module; `reset_fakes` clears what they recorded and their faults
before every test of a module that uses them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.llm.fake_anthropic import AnthropicWire
from tests.llm.fake_openai import OpenAIWire
from tests.llm.fake_upstream import FakeUpstream, Fault


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(OpenAIWire()).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(AnthropicWire()).start()
    yield fake
    fake.stop()


def reset(*fakes: FakeUpstream) -> None:
    """No recorded requests, no fault, no delay."""
    for fake in fakes:
        fake.requests.clear()
        fake.set_fault(Fault())
        fake.reply.first_chunk_delay = 0.0
        fake.reply.chunk_delay = 0.0
        fake.abandoned = 0
