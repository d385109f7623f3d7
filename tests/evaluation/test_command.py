"""`purpose-agent eval` run as a user runs it, where no service is needed: a bad file, no key, no service.

Each problem is one line on stderr, with an exit code of its own, and nothing is asked.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.ports import refused_url
from tests.test_cli import COMMAND

VALID = (
    "questions:\n  - agent_id: support-agent\n    question: What does a 413 mean?\n    sources: [faq.md]\n"
)


def run_eval(*args: str, api_key: str | None = "pa_not_checked") -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PURPOSE_AGENT_API_KEY"}
    if api_key is not None:
        env["PURPOSE_AGENT_API_KEY"] = api_key
    return subprocess.run([COMMAND, "eval", *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        (
            "set.yaml",
            VALID.replace("sources:", "colour: blue\n    sources:"),
            "entry #1: colour: Extra inputs",
        ),
        (
            "set.yaml",
            VALID.replace("question: What does a 413 mean?", "id: q413"),
            "entry 'q413': question: Field required",
        ),
        ("set.yaml", VALID.replace("[faq.md]", "faq.md"), "entry #1: sources: Input should be a valid list"),
        ("set.json", VALID, "is not valid JSON: Expecting value (line 1, column 1)"),
    ],
)
def test_a_bad_question_set_is_one_line_naming_file_entry_and_field_and_exit_2(
    tmp_path: Path, name: str, text: str, error: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    # Nothing listens at the URL: a run that got past the file would exit 3, not 2.
    result = run_eval(str(path), "--url", refused_url())
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {path}: {error}")
    assert result.stdout == ""


def test_no_api_key_says_where_to_give_one_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(VALID)
    result = run_eval(str(path), api_key=None)
    assert result.returncode == 2
    assert result.stderr == "error: give an API key: --api-key or PURPOSE_AGENT_API_KEY\n"


def test_a_service_that_is_not_there_is_one_line_and_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(VALID)
    url = refused_url()
    result = run_eval(str(path), "--url", url)
    assert result.returncode == 3
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot reach {url}: ")
    assert result.stdout == ""


def test_a_json_path_in_a_missing_folder_is_refused_before_the_run(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(VALID)
    report = tmp_path / "no-such-folder" / "results.json"
    result = run_eval(str(path), "--url", refused_url(), "--json", str(report))
    assert result.returncode == 2
    assert result.stderr == f"error: --json {report}: there is no folder {report.parent}\n"
