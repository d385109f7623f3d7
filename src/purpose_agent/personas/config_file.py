"""Personas files: `{"personas": [...]}` in JSON (or YAML, by extension), validated whole, then upserted.

A file is checked in full before anything is written, so an invalid one changes nothing; each error
names the file, the persona (its id, or its position when the id is missing or invalid) and the field.
An export is deterministic (by id, fixed key order, no timestamps) and imports back to the same personas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.kit.data_files import DataFileUnreadable, field_error, parse_data, read_data_file
from purpose_agent.personas import commands, queries
from purpose_agent.personas.commands import UpsertOutcome
from purpose_agent.personas.schemas import PersonaCreate, PersonaRead
from purpose_agent.vocabulary import PERSONA_ID_PATTERN

# The order of the keys of each exported persona: what it is, what it knows, how it answers.
FIELD_ORDER = (
    "id",
    "name",
    "description",
    "instructions",
    "retrieval",
    "knowledge_category",
    "temperature",
    "max_tokens",
    "llm_chain",
    "llm_model",
    "top_k",
    "min_score",
)


class PersonaFileInvalid(Exception):
    """A personas file that cannot be imported; `errors` holds one line per problem, each naming the file."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.errors = [f"{source}: {problem}" for problem in problems]
        super().__init__("\n".join(self.errors))


class _FileShape(BaseModel):
    model_config = ConfigDict(extra="forbid")

    personas: list[Any]


def read_file(path: Path) -> list[PersonaCreate]:
    """The personas of a JSON file, or a YAML one when it is named .yaml or .yml; every one valid."""
    try:
        data = read_data_file(path)
    except DataFileUnreadable as exc:
        raise PersonaFileInvalid(str(path), [str(exc)]) from None
    return validate(data, str(path))


def parse(text: str, source: str, *, yaml_format: bool = False) -> list[PersonaCreate]:
    """The personas of a file's text; `source` names the file in errors."""
    try:
        data = parse_data(text, yaml_format=yaml_format)
    except DataFileUnreadable as exc:
        raise PersonaFileInvalid(source, [str(exc)]) from None
    return validate(data, source)


def validate(data: object, source: str) -> list[PersonaCreate]:
    """Each persona of a parsed file, or every problem of the whole file at once."""
    if not isinstance(data, dict):
        raise PersonaFileInvalid(source, ['should hold an object: {"personas": [...]}'])
    try:
        entries = _FileShape.model_validate(data).personas
    except ValidationError as exc:
        raise PersonaFileInvalid(source, [field_error(error) for error in exc.errors()]) from None

    problems: list[str] = []
    personas: list[PersonaCreate] = []
    first_position: dict[str, int] = {}
    for position, entry in enumerate(entries, start=1):
        persona_id = _valid_id(entry)
        label = f"'{persona_id}'" if persona_id else f"#{position}"
        if not isinstance(entry, dict):
            problems.append(f"persona {label}: should be an object of fields")
            continue
        if persona_id in first_position:
            problems.append(f"persona {label}: id: also the id of persona #{first_position[persona_id]}")
        elif persona_id:
            first_position[persona_id] = position
        try:
            personas.append(PersonaCreate.model_validate(entry))
        except ValidationError as exc:
            problems.extend(f"persona {label}: {field_error(error)}" for error in exc.errors())
    if problems:
        raise PersonaFileInvalid(source, problems)
    return personas


async def import_personas(
    session: AsyncSession, personas: Iterable[PersonaCreate]
) -> list[tuple[str, UpsertOutcome]]:
    """Upsert each persona (personas the file does not name are left alone); flushes, never commits."""
    return [(persona.id, await commands.upsert_persona(session, persona)) for persona in personas]


async def export_personas(session: AsyncSession) -> str:
    """Every persona as a personas file's text."""
    return render(await queries.list_personas(session))


def render(personas: Iterable[PersonaCreate | PersonaRead]) -> str:
    """A personas file: by id, keys in FIELD_ORDER, no timestamps, 2-space indent, a final newline."""
    items = [
        {key: getattr(persona, key) for key in FIELD_ORDER}
        for persona in sorted(personas, key=lambda persona: persona.id)
    ]
    return json.dumps({"personas": items}, indent=2, ensure_ascii=False) + "\n"


def _valid_id(entry: object) -> str | None:
    """The entry's id when it is one a persona may have: what names it in errors, else its position."""
    persona_id = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(persona_id, str) and re.fullmatch(PERSONA_ID_PATTERN, persona_id):
        return persona_id
    return None
