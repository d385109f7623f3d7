"""Personas files: validated whole with errors naming file, persona and field; upserted; exported back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from purpose_agent.personas.commands import UpsertOutcome
from purpose_agent.personas.config_file import (
    PersonaFileInvalid,
    export_personas,
    import_personas,
    parse,
    read_file,
    render,
    validate,
)
from purpose_agent.personas.schemas import PersonaCreate
from tests.personas.factories import INVALID_VALUES, persona_body, raw_personas

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT_ROOT / "config" / "personas.json"


def file_text(*personas: object) -> str:
    return json.dumps({"personas": list(personas)})


def errors_of(text: str, source: str = "config/personas.json", *, yaml_format: bool = False) -> list[str]:
    with pytest.raises(PersonaFileInvalid) as raised:
        parse(text, source, yaml_format=yaml_format)
    assert str(raised.value) == "\n".join(raised.value.errors)
    return raised.value.errors


def test_an_error_names_the_file_the_persona_and_the_field() -> None:
    text = file_text(persona_body("general-assistant"), persona_body("support-agent", temperature=2.5))
    assert errors_of(text) == [
        "config/personas.json: persona 'support-agent': temperature: Input should be less than or equal to 2"
    ]


def test_a_persona_without_a_valid_id_is_named_by_its_position() -> None:
    without_id = {key: value for key, value in persona_body().items() if key != "id"}
    text = file_text(persona_body("first-one"), without_id, persona_body("Bad Id", max_tokens=0), "text")
    assert errors_of(text, "team.json") == [
        "team.json: persona #2: id: Field required",
        "team.json: persona #3: max_tokens: Input should be greater than or equal to 1",
        "team.json: persona #3: id: String should match pattern '^[a-z0-9][a-z0-9-]{1,62}$'",
        "team.json: persona #4: should be an object of fields",
    ]


def test_every_problem_of_the_file_is_reported_at_once() -> None:
    text = file_text(
        persona_body("one-bot", temperature=-1, llm_chain=["openai", "nope"]),
        persona_body("two-bot", tone="sunny"),
        persona_body("one-bot"),
    )
    assert errors_of(text, "p.json") == [
        "p.json: persona 'one-bot': temperature: Input should be greater than or equal to 0",
        "p.json: persona 'one-bot': llm_chain.1: Value error, unknown provider 'nope' "
        "(known: gemini, openai, anthropic, ollama, local)",
        "p.json: persona 'two-bot': tone: Extra inputs are not permitted",
        "p.json: persona 'one-bot': id: also the id of persona #1",
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"personas": [', "p.json: is not valid JSON: Expecting value (line 1, column 15)"),
        ("[]", 'p.json: should hold an object: {"personas": [...]}'),
        ("{}", "p.json: personas: Field required"),
        ('{"personas": {}}', "p.json: personas: Input should be a valid list"),
        ('{"personas": [], "agents": []}', "p.json: agents: Extra inputs are not permitted"),
    ],
)
def test_a_file_of_the_wrong_shape_is_named_as_such(text: str, error: str) -> None:
    assert errors_of(text, "p.json") == [error]


def test_a_missing_or_unreadable_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PersonaFileInvalid) as missing:
        read_file(tmp_path / "absent.json")
    assert missing.value.errors == [f"{tmp_path / 'absent.json'}: cannot be read: No such file or directory"]
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PersonaFileInvalid) as undecodable:
        read_file(binary)
    assert undecodable.value.errors == [f"{binary}: is not UTF-8 text"]


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_a_yaml_file_is_read_by_its_extension(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"personas{suffix}"
    path.write_text(
        "personas:\n"
        "  - id: support-bot\n"
        "    name: Support Bot\n"
        "    knowledge_category: support\n"
        "    temperature: 0\n"
        "    llm_chain: [openai, local]\n"
        "    instructions: |\n"
        "      Be brief.\n"
        "      Be kind.\n",
        encoding="utf-8",
    )
    [persona] = read_file(path)
    assert persona == PersonaCreate(
        id="support-bot",
        name="Support Bot",
        knowledge_category="support",
        temperature=0,
        llm_chain=["openai", "local"],
        instructions="Be brief.\nBe kind.",
    )
    # The same text named .json is read as JSON, and is not JSON.
    as_json = tmp_path / "personas.json"
    as_json.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(PersonaFileInvalid, match="is not valid JSON"):
        read_file(as_json)


def test_yaml_errors_name_the_file_the_persona_and_the_field() -> None:
    text = "personas:\n  - id: support-agent\n    name: Help\n    knowledge_category: support\n"
    text += "    max_tokens: lots\n"
    assert errors_of(text, "p.yaml", yaml_format=True) == [
        "p.yaml: persona 'support-agent': max_tokens: Input should be a valid integer"
    ]
    [broken] = errors_of("personas: [\n", "p.yaml", yaml_format=True)
    assert broken.startswith("p.yaml: is not valid YAML: ")
    assert "\n" not in broken


FIELDS = sorted(INVALID_VALUES)


@given(
    persona=raw_personas,
    bad=st.dictionaries(st.sampled_from(FIELDS), st.integers(0, 1000), min_size=1, max_size=len(FIELDS)),
    position=st.integers(0, 2),
)
def test_an_invalid_persona_is_rejected_naming_each_bad_field(
    persona: dict[str, Any], bad: dict[str, int], position: int
) -> None:
    """PROPERTIES 15, second half: every bad field is named, and no other."""
    try:
        PersonaCreate.model_validate(persona)
    except ValidationError:
        assume(False)
    assume(persona["id"] not in {"valid-0", "valid-1"})
    corrupted = persona | {
        field: INVALID_VALUES[field][choice % len(INVALID_VALUES[field])] for field, choice in bad.items()
    }
    others = [persona_body(f"valid-{number}") for number in range(2)]
    entries = [*others[:position], corrupted, *others[position:]]
    label = f"#{position + 1}" if "id" in bad else f"'{persona['id']}'"

    errors = _errors_of_data({"personas": entries})
    prefix = f"personas.json: persona {label}: "
    assert all(error.startswith(prefix) for error in errors), errors
    named = {error.removeprefix(prefix).split(": ", 1)[0].split(".")[0] for error in errors}
    assert named == set(bad)


def _errors_of_data(data: object) -> list[str]:
    with pytest.raises(PersonaFileInvalid) as raised:
        validate(data, "personas.json")
    return raised.value.errors


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(personas=st.lists(raw_personas, max_size=4, unique_by=lambda persona: str(persona["id"])))
async def test_export_then_import_gives_the_same_personas_and_the_same_file(
    session: AsyncSession, personas: list[dict[str, Any]]
) -> None:
    """PROPERTIES 15: a persona written by export and read by import equals the original."""
    try:
        originals = parse(file_text(*personas), "drawn.json")
    except PersonaFileInvalid:
        assume(False)
    savepoint = await session.begin_nested()
    try:
        assert [outcome for _, outcome in await import_personas(session, originals)] == [
            UpsertOutcome.created
        ] * len(originals)
        exported = await export_personas(session)
        assert exported.endswith("}\n")
        read_back = parse(exported, "exported.json")
        assert read_back == sorted(originals, key=lambda persona: persona.id)

        again = await import_personas(session, read_back)
        assert [outcome for _, outcome in again] == [UpsertOutcome.unchanged] * len(originals)
        assert await export_personas(session) == exported
    finally:
        await savepoint.rollback()


async def test_an_export_is_sorted_by_id_with_fixed_keys_and_no_timestamps(session: AsyncSession) -> None:
    second = parse(file_text(persona_body("zeta-bot", temperature=0, name="Zéta ✓")), "z.json")
    first = parse(file_text(persona_body("alpha-bot", llm_chain=["local"], llm_model="m")), "a.json")
    await import_personas(session, [*second, *first])

    exported = await export_personas(session)
    data = json.loads(exported)
    assert [persona["id"] for persona in data["personas"]] == ["alpha-bot", "zeta-bot"]
    assert list(data["personas"][0]) == [
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
    ]
    assert '\n  "personas": [\n    {\n      "id": "alpha-bot",' in exported
    assert '"name": "Zéta ✓"' in exported, "not escaped to ASCII"
    assert '"temperature": 0.0' in exported
    assert exported.endswith("\n  ]\n}\n")


async def test_import_creates_updates_and_leaves_unchanged_and_alone(session: AsyncSession) -> None:
    await import_personas(
        session, parse(file_text(persona_body("kept-bot"), persona_body("other-bot")), "a.json")
    )

    outcomes = await import_personas(
        session,
        parse(
            file_text(persona_body("kept-bot"), persona_body("new-bot"), persona_body("other-bot", top_k=9)),
            "b",
        ),
    )
    assert outcomes == [
        ("kept-bot", UpsertOutcome.unchanged),
        ("new-bot", UpsertOutcome.created),
        ("other-bot", UpsertOutcome.updated),
    ]
    exported = json.loads(await export_personas(session))["personas"]
    assert [(persona["id"], persona["top_k"]) for persona in exported] == [
        ("kept-bot", 5),
        ("new-bot", 5),
        ("other-bot", 9),
    ]

    await import_personas(session, parse(file_text(persona_body("new-bot", name="Renamed")), "c.json"))
    names = {
        persona["id"]: persona["name"] for persona in json.loads(await export_personas(session))["personas"]
    }
    assert names == {"kept-bot": "Support Bot", "new-bot": "Renamed", "other-bot": "Support Bot"}, (
        "personas a file does not name are left alone"
    )


def test_the_shipped_personas_are_valid_canonical_and_their_categories_ship_as_sample_knowledge() -> None:
    personas = read_file(SHIPPED)
    assert {(persona.id, persona.knowledge_category) for persona in personas} == {
        ("general-assistant", "general"),
        ("technical-expert", "technical"),
        ("creative-writer", "creative-writing"),
        ("support-agent", "support"),
    }
    for persona in personas:
        assert persona.retrieval
        assert persona.knowledge_category is not None
        assert (PROJECT_ROOT / "knowledge" / persona.knowledge_category).is_dir(), persona.id
        assert any((PROJECT_ROOT / "knowledge" / persona.knowledge_category).iterdir()), persona.id
        assert persona.llm_chain is None
        assert persona.llm_model is None
        assert persona.description
        assert persona.instructions
        assert not re.search(r"\b(cite|citation|abstain)\b", persona.instructions, re.IGNORECASE), (
            "instructions give style and tone; the answering rules are fixed elsewhere"
        )
    # Written as export writes it: an import then an export of the shipped file gives it back unchanged.
    assert render(personas) == SHIPPED.read_text(encoding="utf-8")
