"""A bad setting, told in one line that names its environment variable and never echoes its value."""

from __future__ import annotations

from pydantic import ValidationError


class SettingsError(Exception):
    """A setting has a bad value; the message is one line that names it."""


def describe_settings_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per bad setting, each naming the environment variable and why it is refused.

    An error in a group is located by the group's name (lower case), then by the variable's (upper
    case, as in `database`, `DATABASE_POOL_SIZE`): the variable is what a user sets, so the group is
    left out. `prefix` is that of a settings class read with one (OPENAI_ for `ProviderSettings`).
    """
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        if not prefix and location and not location[0].isupper():
            location = location[1:]
        name = prefix + ".".join(location).upper() or "settings"
        # The value itself is not echoed: it may be a credential.
        problems.append(f"invalid setting {name}: {error['msg']}")
    return "; ".join(problems)
