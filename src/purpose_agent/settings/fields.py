"""What every settings group is made of: its config, and the field types and checks several share.

A group is a pydantic model whose fields carry their environment variable as alias: the database
group's `pool_size` is read from DATABASE_POOL_SIZE. `group_config(prefix)` names each field
PREFIX_FIELD; a field whose variable does not follow the prefix names its own with `Field(alias=...)`.
A field's docstring is its variable's comment in `.env.example`; the group's docstring heads its
section there (first line: the title; the rest: what the section's variables share).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, SecretStr

from purpose_agent.kit.rate_limit import parse_limits


def group_config(prefix: str = "") -> ConfigDict:
    """The config of a group whose variables are PREFIX + the field's name, in upper case."""
    return ConfigDict(
        alias_generator=lambda name: (prefix + name).upper(),
        # Code may build a group by field name (`DatabaseSettings(pool_size=5)`), sources by variable.
        validate_by_name=True,
        validate_by_alias=True,
        use_attribute_docstrings=True,
    )


def listed(value: str) -> list[str]:
    """The items of a comma-separated setting, blanks left out."""
    return [item.strip() for item in value.split(",") if item.strip()]


def blank_is_none(value: object) -> object:
    """None for an empty value: a variable written but left empty is unset."""
    return None if value == "" else value


def _schemes(*schemes: str) -> AfterValidator:
    def check(value: str) -> str:
        if value and not value.startswith(schemes):
            raise ValueError(f"must start with one of {', '.join(schemes)}")
        return value

    return AfterValidator(check)


def _rate_limit_notation(value: str) -> str:
    parse_limits(value)
    return value


Port = Annotated[int, Field(ge=1, le=65535)]
# A variable left empty (JWT_SECRET=, EMBEDDER_DIMENSION=, as `.env.example` writes them) is unset.
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(blank_is_none)]
OptionalText = Annotated[str | None, BeforeValidator(blank_is_none)]
DatabaseUrl = Annotated[str, _schemes("postgresql://", "postgresql+psycopg://", "postgres://")]
RedisUrl = Annotated[str, _schemes("redis://", "rediss://", "unix://")]
# Limits in the `limits` notation: "20/minute", "300 per hour", several joined by ";".
RateLimits = Annotated[str, AfterValidator(_rate_limit_notation)]
