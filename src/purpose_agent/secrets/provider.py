"""The one interface every secrets provider implements."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from purpose_agent.secrets.errors import SecretMalformed


class SecretsProvider(Protocol):
    """Reads secret settings by variable name (JWT_SECRET, OPENAI_API_KEY, ...) from one backend."""

    name: str

    def fetch(self, names: Collection[str]) -> dict[str, str]:
        """The values of those of `names` the backend holds; a failure raises `SecretsError`."""
        ...


def pick_strings(
    provider: str, where: str, data: Mapping[str, object], names: Collection[str]
) -> dict[str, str]:
    """Those of `names` that `data` holds; a value that is not a string is an error naming its key."""
    values = {}
    for name in names:
        if name in data:
            value = data[name]
            if not isinstance(value, str):
                raise SecretMalformed(provider, f"{where}: {name} is not a string")
            values[name] = value
    return values
