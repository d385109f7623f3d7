"""`.env.example`, written from the settings' own documentation so that the two never drift apart.

Each group is a section headed by its docstring's first line, then the rest of its docstring; each
setting is its docstring as a comment, then VARIABLE=its default (or its example, for JWT_SECRET).
The LLM providers' section lists their common variables once, then each provider's usual ones.

    python -m purpose_agent.settings.example .env.example    (`make env-example`; no file: stdout)
"""

from __future__ import annotations

import inspect
import json
import sys
import textwrap
from collections.abc import Iterable
from enum import Enum
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from purpose_agent.settings.llm import LlmSettings
from purpose_agent.settings.model import Settings
from purpose_agent.settings.providers import DEFAULT_MODELS, ProviderSettings
from purpose_agent.settings.variables import Variable, settings_group, settings_variables
from purpose_agent.vocabulary import KNOWN_PROVIDERS

HEADER = """\
# Purpose-Agent settings. Copy to `.env` (never committed) or set them in the environment;
# the environment wins over `.env`. A bad value stops the start with a line naming the setting.
# Written by `make env-example` from the settings' docstrings (src/purpose_agent/settings/, and
# secrets/config.py for the secrets provider): edit those, not this file."""

# The providers' list is wrapped about as wide as the docstrings.
LINE_WIDTH = 105

# What each provider is usually set up with; any other of its variables works the same way.
PROVIDER_VARIABLES = {
    "gemini": ("api_key", "model"),
    "openai": ("api_key", "base_url", "model"),
    "anthropic": ("api_key", "model"),
    "ollama": ("base_url", "model"),
    "local": ("model", "model_path", "max_queued", "max_tokens"),
}


def render_example() -> str:
    """The text of `.env.example`."""
    lines = [HEADER]
    variables = settings_variables(Settings)
    for group, field in Settings.model_fields.items():
        model = settings_group(field)
        assert model is not None, "every field of Settings is a group"
        lines += _section(model, [variable for variable in variables if variable.group == group])
        if model is LlmSettings:
            lines += _providers_section()
    return "\n".join(lines) + "\n"


def _section(model: type[BaseModel], variables: Iterable[Variable]) -> list[str]:
    lines = _heading(model)
    for variable in variables:
        lines += _comment(variable.field.description)
        lines.append(f"{variable.name}={_shown(variable.field)}")
    return lines


def _providers_section() -> list[str]:
    lines = _heading(ProviderSettings)
    for name, field in ProviderSettings.model_fields.items():
        default = _shown(field)
        entry = f"_{name.upper()}" + (f" ({default})" if default else "")
        if field.description:
            entry += ": " + " ".join(field.description.split())
        lines += textwrap.wrap(entry, width=LINE_WIDTH, initial_indent="#   ", subsequent_indent="#     ")
    for provider in KNOWN_PROVIDERS:
        for name in PROVIDER_VARIABLES[provider]:
            field = ProviderSettings.model_fields[name]
            value = DEFAULT_MODELS[provider] if name == "model" else _shown(field)
            lines.append(f"{provider.upper()}_{name.upper()}={value}")
    return lines


def _heading(model: type[BaseModel]) -> list[str]:
    title, _, intro = inspect.cleandoc(model.__doc__ or "").partition("\n")
    return ["", f"# --- {title} ---", *_comment(intro.strip())]


def _comment(text: str | None) -> list[str]:
    return [f"# {line}".rstrip() for line in text.splitlines()] if text else []


def _shown(field: FieldInfo) -> str:
    """The value written after VARIABLE=: its example if it has one, else its default as a variable
    would spell it."""
    value = field.examples[0] if field.examples else field.get_default(call_default_factory=True)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return str(value).removesuffix(".0")
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


if __name__ == "__main__":
    # Rendered before the file is opened: an error leaves the committed file as it was.
    example = render_example()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(example, encoding="utf-8")
    else:
        sys.stdout.write(example)
