"""`purpose-agent personas import/export` and the personas step of `up`, run as real processes.

Each test has its own embedded PostgreSQL in a temporary folder (see tests/test_cli.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests import test_cli
from tests.test_cli import Service, printed_admin_key

# The fixture of tests/test_cli.py: a `purpose-agent` in its own folder, with its own embedded database.
service = test_cli.service

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "personas.json"


def printed(output: str) -> list[str]:
    """What the command printed for a person: its log lines (JSON objects) left out."""
    return [line for line in output.splitlines() if not line.startswith("{")]


def test_import_then_export_gives_the_file_back_and_a_bad_file_changes_nothing(
    service: Service, tmp_path: Path
) -> None:
    assert service.run("db", "start").returncode == 0
    assert service.run("migrate").returncode == 0

    first = service.run("personas", "import", str(SHIPPED))
    assert first.returncode == 0, first.stderr
    assert printed(first.stdout) == [
        "created   creative-writer",
        "created   general-assistant",
        "created   support-agent",
        "created   technical-expert",
    ]
    exported = service.run("personas", "export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == SHIPPED.read_text(encoding="utf-8"), "the shipped file is in export form"

    again = service.run("personas", "import", str(SHIPPED))
    ids = ["creative-writer", "general-assistant", "support-agent", "technical-expert"]
    assert [line.split() for line in printed(again.stdout)] == [["unchanged", persona] for persona in ids]

    changes = tmp_path / "changes.yml"
    changes.write_text(
        "personas:\n"
        "  - id: technical-expert\n"
        "    name: Technical Expert\n"
        "    knowledge_category: technical\n"
        "    temperature: 0\n"
        "  - id: poet\n"
        "    name: Poet\n"
        "    knowledge_category: creative-writing\n"
        "    llm_chain: [local]\n",
        encoding="utf-8",
    )
    changed = service.run("personas", "import", str(changes))
    assert changed.returncode == 0, changed.stderr
    assert printed(changed.stdout) == ["updated   technical-expert", "created   poet"]

    output = tmp_path / "exported.json"
    assert service.run("personas", "export", "--output", str(output)).returncode == 0
    before = output.read_text(encoding="utf-8")
    personas = {persona["id"]: persona for persona in json.loads(before)["personas"]}
    assert sorted(personas) == [
        "creative-writer",
        "general-assistant",
        "poet",
        "support-agent",
        "technical-expert",
    ]
    assert personas["technical-expert"]["temperature"] == 0
    assert personas["technical-expert"]["instructions"] == "", "an import replaces every field"
    assert personas["poet"]["llm_chain"] == ["local"]
    assert service.run("personas", "import", str(output)).stdout.count("unchanged") == 5

    # A valid change beside an invalid persona: the file is refused whole.
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))["personas"]
    for persona in shipped:
        if persona["id"] == "general-assistant":
            persona["name"] = "Renamed"
        if persona["id"] == "support-agent":
            persona["temperature"] = 2.5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"personas": shipped}), encoding="utf-8")
    refused = service.run("personas", "import", str(bad))
    assert refused.returncode == 2
    assert refused.stderr == (
        f"error: {bad}: persona 'support-agent': temperature: Input should be less than or equal to 2\n"
    )
    assert printed(refused.stdout) == []
    assert service.run("personas", "export").stdout == before, "an invalid file changes nothing"

    missing = service.run("personas", "import", str(tmp_path / "nowhere.json"))
    assert missing.returncode == 2
    assert "nowhere.json: cannot be read" in missing.stderr
    assert service.run("personas", "export", "--output", str(tmp_path / "out.yaml")).returncode == 2


def test_up_upserts_the_personas_file_and_an_invalid_one_stops_it(service: Service, tmp_path: Path) -> None:
    service.env["PERSONAS_FILE"] = str(SHIPPED)
    service.start()
    output = service.output.read_text()
    assert f"personas: 4 from {SHIPPED} (4 created)" in output
    key = printed_admin_key(output)
    agents = httpx.get(f"{service.base_url}/api/agents", headers={"X-API-Key": key})
    assert agents.status_code == 200
    assert [(agent["id"], agent["knowledge_category"]) for agent in agents.json()] == [
        ("creative-writer", "creative-writing"),
        ("general-assistant", "general"),
        ("support-agent", "support"),
        ("technical-expert", "technical"),
    ]
    assert service.interrupt() == 0

    bad = tmp_path / "personas.yaml"
    bad.write_text("personas:\n  - id: support-agent\n    name: Help\n", encoding="utf-8")
    service.env["PERSONAS_FILE"] = str(bad)
    stopped = service.run("up")
    assert stopped.returncode == 2
    assert (
        f"error: {bad}: persona 'support-agent': knowledge_category: Field required unless retrieval is false"
        in (stopped.stderr)
    )
    assert service.run("db", "status").returncode == 1, "up stops the database it started"
