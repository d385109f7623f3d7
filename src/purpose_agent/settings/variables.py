"""Every setting of a settings class, with the environment variable it is read from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo


@dataclass(frozen=True, slots=True)
class Variable:
    """One setting: DATABASE_POOL_SIZE is the `pool_size` field of the `database` group."""

    name: str
    # The field of the settings class holding the group; None for a field of the class itself.
    group: str | None
    field_name: str
    field: FieldInfo

    @property
    def key(self) -> str:
        """Its key in the values validated: the variable in a group (so that an error names it)."""
        return self.name if self.group else self.field_name

    def place(self, values: dict[str, Any], value: Any) -> None:
        """Put `value` where validation looks for this setting: in its group's values, or at the top."""
        target = values.setdefault(self.group, {}) if self.group else values
        target[self.key] = value


def settings_variables(settings_cls: type[BaseModel], prefix: str = "") -> list[Variable]:
    """The settings of `settings_cls` in the order of its fields; a group's fields named by their alias,
    any other field by `prefix` and its name."""
    variables = []
    for name, field in settings_cls.model_fields.items():
        group = settings_group(field)
        if group is None:
            variables.append(Variable((prefix + name).upper(), None, name, field))
            continue
        for member_name, member in group.model_fields.items():
            variables.append(Variable(str(member.alias), name, member_name, member))
    return variables


def settings_group(field: FieldInfo) -> type[BaseModel] | None:
    """The group model a field holds; None when it holds a single setting."""
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None
