"""`purpose-agent backup` and `restore`: a database restored from a backup into a fresh one answers as the
original did, and every bad input is refused with one line and a non-zero exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from purpose_agent.settings import Settings
from tests.conftest import PROJECT_ROOT
from tests.databases import fresh_database
from tests.live_server import LiveServer

COMMAND = str(Path(sys.executable).with_name("purpose-agent"))
QUESTION = {"agent_id": "support-agent", "question": "What does a 413 error mean?"}


class Commands:
    """`purpose-agent` run as an operator runs it, against one database, in an empty folder."""

    def __init__(self, workdir: Path, redis_url: str) -> None:
        self.workdir = workdir
        self.env = {
            **{key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "APP_ENV"}},
            "APP_ENV": "development",
            "REDIS_URL": redis_url,
        }

    def run(self, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [COMMAND, *args],
            cwd=self.workdir,
            env={**self.env, "DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def ok(self, database_url: str, *args: str) -> str:
        result = self.run(database_url, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def refused(self, database_url: str, *args: str) -> str:
        """The one line a refused command printed (it exits 2)."""
        result = self.run(database_url, *args)
        assert result.returncode == 2, result.stdout + result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: ")
        return line.removeprefix("error: ")


@pytest.fixture
def commands(tmp_path: Path, redis_url: str) -> Commands:
    workdir = tmp_path / "work"
    workdir.mkdir()
    return Commands(workdir, redis_url)


@pytest.fixture
def original(database_url: str, commands: Commands, tmp_path: Path) -> Iterator[str]:
    """A database in use: migrated, the sample personas, a support document ingested."""
    with fresh_database(database_url) as url:
        commands.ok(url, "migrate")
        commands.ok(url, "personas", "import", str(PROJECT_ROOT / "config" / "personas.json"))
        folder = tmp_path / "knowledge" / "support"
        folder.mkdir(parents=True)
        shutil.copy(PROJECT_ROOT / "knowledge" / "support" / "errors-and-troubleshooting.md", folder)
        assert "ready" in commands.ok(url, "ingest", str(folder.parent))
        yield url


def ask(settings: Settings, database_url: str, key: str, session_id: str | None = None) -> dict[str, Any]:
    """The question asked of the API served from `database_url`, and the session it is part of."""
    server = LiveServer(settings.changed(database_url=database_url)).start()
    try:
        with httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}, timeout=30) as client:
            answer = client.post("/api/chat", json=QUESTION)
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            history = client.get(f"/api/sessions/{session_id or body['session_id']}")
            assert history.status_code == 200, history.text
            body["history"] = history.json()["messages"]
            return body
    finally:
        server.stop()


def test_a_restored_backup_answers_the_same_question_with_the_same_citations(
    settings: Settings, database_url: str, original: str, commands: Commands, tmp_path: Path
) -> None:
    key = commands.ok(original, "keys", "create", "--role", "user").strip().splitlines()[-1]
    before = ask(settings, original, key)
    assert before["citations"], "the sample document answers the question"

    archive = tmp_path / "purpose-agent.dump"
    assert "backup written to" in commands.ok(original, "backup", str(archive))
    with fresh_database(database_url) as restored:
        assert "restored" in commands.ok(restored, "restore", str(archive))
        # The key, the personas, the documents with their chunks and vectors, the sessions: all came back.
        after = ask(settings, restored, key, session_id=before["session_id"])

    for field in ("answer", "citations", "model_used", "abstained", "grounded"):
        assert after[field] == before[field], field
    # The session of the first answer is there too, with that exchange first.
    assert [message["content"] for message in after["history"][:2]] == [
        QUESTION["question"],
        before["answer"],
    ]


def test_bad_input_is_refused_in_one_line(
    database_url: str, original: str, commands: Commands, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such.dump"
    assert commands.refused(original, "restore", str(missing)) == f"no backup at {missing}"
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("not a backup")
    assert "is not a backup made by `purpose-agent backup`" in commands.refused(
        original, "restore", str(not_a_backup)
    )
    archive = tmp_path / "purpose-agent.dump"
    commands.ok(original, "backup", str(archive))
    # Restoring over a database in use would mix two histories: refused, and nothing is changed.
    assert "already holds a Purpose-Agent schema" in commands.refused(original, "restore", str(archive))
    with fresh_database(database_url) as empty:
        # The wrong database to back up: nothing of ours is in it.
        assert "holds no Purpose-Agent schema; check DATABASE_URL" in commands.refused(
            empty, "backup", str(tmp_path / "other.dump")
        )
    assert commands.refused(original, "backup", str(tmp_path / "nowhere" / "x.dump")) == (
        f"{tmp_path / 'nowhere'} is not a folder"
    )
    unreachable = "postgresql://postgres@127.0.0.1:9/purpose_agent"
    assert commands.refused(unreachable, "backup", str(archive)).startswith(
        "cannot reach the database 127.0.0.1:9/purpose_agent:"
    )
