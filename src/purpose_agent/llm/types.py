"""The values that cross the provider interface: requests, answers, stream parts, usage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat turn to answer. `model` overrides the provider's configured model when set."""

    messages: tuple[Message, ...]
    temperature: float = 0.7
    max_tokens: int = 1024
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: Usage
    model: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The provider finished the stream normally; always the last part."""

    usage: Usage
    model: str


StreamPart = TextDelta | StreamEnd


@dataclass(frozen=True, slots=True)
class Grounding:
    """Whether an answer is supported by the context it was given: the sentences found unsupported,
    and `grounded` None when it was not checked (no context to check against)."""

    grounded: bool | None = None
    unsupported: tuple[str, ...] = ()
