"""The hosted-CI workflow: valid for GitHub Actions, and running what .ci/run runs, then the image build."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import PROJECT_ROOT
from tests.deploy.schemas import check_jsonschema

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"


def test_the_workflow_is_valid_for_github_actions() -> None:
    result = check_jsonschema("github-workflows", WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_runs_the_gates_of_ci_run_then_builds_the_image() -> None:
    workflow: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    [job] = workflow["jobs"].values()
    # The machine .ci/run is written for: Debian bookworm, as root (it installs with apt-get).
    assert job["container"]["image"] == "debian:bookworm"
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert "bash .ci/run" in runs
    ci_run = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "make test\n" in ci_run
    assert "make test-system\n" in ci_run
    [build] = [run for run in runs if "podman build" in run]
    assert runs.index(build) > runs.index("bash .ci/run")
    assert "--format docker" in build
