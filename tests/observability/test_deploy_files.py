"""The files in deploy/observability load in the tools that read them, and agree with one catalogue.

Prometheus's own `promtool` checks the scrape config and the rules and runs the rules' unit tests; the
alerts, the recording rules and the Grafana dashboard may read only the metrics listed in
deploy/observability/metrics.yml (or a recording rule built on them), so a renamed metric breaks here
rather than leaving a silent panel or an alert that never fires.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
PROMETHEUS = OBSERVABILITY / "prometheus"
RULE_FILES = [PROMETHEUS / "recording.yml", PROMETHEUS / "alerts.yml"]
UNIT_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
DASHBOARD = OBSERVABILITY / "grafana" / "purpose-agent.json"
GUIDE = ROOT / "docs" / "OBSERVABILITY.md"

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian package `prometheus`; `bash scripts/install-test-tools.sh`)",
)

EXPOSED_SUFFIXES = {"counter": [""], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
# Names a PromQL expression can reference that this project owns or relies on; anything else (a
# function, a keyword, a label name) is not a metric of ours.
OUR_NAME = re.compile(r"^(purpose_agent_|process_|python_)|^up$")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def catalogue() -> list[dict[str, Any]]:
    """Every metric of metrics.yml: the service's own, then the standard ones."""
    document = load_yaml(OBSERVABILITY / "metrics.yml")
    entries: list[dict[str, Any]] = document["metrics"] + document["standard"]
    return entries


def rules(path: Path) -> Iterator[dict[str, Any]]:
    for group in load_yaml(path)["groups"]:
        yield from group["rules"]


def alerts() -> list[dict[str, Any]]:
    return list(rules(PROMETHEUS / "alerts.yml"))


def recordings() -> dict[str, str]:
    """Recorded series name to its expression."""
    return {rule["record"]: rule["expr"] for rule in rules(PROMETHEUS / "recording.yml")}


def exposed_names() -> dict[str, str]:
    """Each series name a scrape can yield, mapped to the catalogue entry it comes from."""
    names: dict[str, str] = {}
    for metric in catalogue():
        for suffix in EXPOSED_SUFFIXES[metric["type"]]:
            names[metric["name"] + suffix] = metric["name"]
    return names


def metric_names(expr: str) -> set[str]:
    """Metric and recorded-series names in a PromQL expression (ours by prefix, or level:metric:ops)."""
    # Range and subquery selectors ([5m:1m], [$__rate_interval]) and label values hold no metric names.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', re.sub(r"\[[^\]]*\]", "[]", expr))
    tokens = re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare)
    return {token for token in tokens if ":" in token or OUR_NAME.match(token)}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_expressions() -> list[str]:
    expressions = [target["expr"] for panel in dashboard_panels() for target in panel["targets"]]
    variables = dashboard()["templating"]["list"]
    return expressions + [variable["query"] for variable in variables if variable["type"] == "query"]


def as_promql(grafana_expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced, as Grafana sends it to Prometheus."""
    return grafana_expr.replace("$__rate_interval", "1m").replace("$job", ".+").replace("$instance", ".+")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


# --- promtool -------------------------------------------------------------------------------------


@needs_promtool
def test_prometheus_config_is_valid_with_its_token_file_in_place(tmp_path: Path) -> None:
    # The token file is a secret, never committed: promtool checks that it exists, so a copy gets one.
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    (copy / "secrets" / "metrics.token").write_text("a-metrics-token\n", encoding="utf-8")

    result = promtool("check", "config", "prometheus.yml", cwd=copy)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


def test_prometheus_config_scrapes_the_jobs_the_rules_expect() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    assert config["rule_files"] == ["recording.yml", "alerts.yml"]
    assert jobs["purpose-agent-api"]["authorization"]["credentials_file"] == "secrets/metrics.token"
    assert jobs["purpose-agent-worker"]["static_configs"][0]["targets"] == ["worker:9464"]
    # PurposeAgentTargetsMissing names both jobs; the dashboard's job menu lists purpose-agent-*.
    alert_text = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    assert 'up{job="purpose-agent-api"}' in alert_text
    assert 'up{job="purpose-agent-worker"}' in alert_text


@needs_promtool
def test_rule_files_are_valid() -> None:
    result = promtool("check", "rules", *(str(path) for path in RULE_FILES), cwd=PROMETHEUS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


@needs_promtool
def test_rule_unit_tests_pass() -> None:
    assert UNIT_TESTS, "no promtool unit tests in deploy/observability/prometheus/tests"

    result = promtool("test", "rules", *(str(path) for path in UNIT_TESTS), cwd=PROMETHEUS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS)


@needs_promtool
def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses every expression of a rule file: each dashboard query becomes a recording rule.
    rule_file = tmp_path / "dashboard.yml"
    group = {
        "name": "dashboard",
        "rules": [
            {"record": f"dashboard:query_{index}:expr", "expr": as_promql(expr)}
            for index, expr in enumerate(dashboard_expressions())
            if not expr.startswith("label_values(")
        ],
    }
    rule_file.write_text(yaml.safe_dump({"groups": [group]}), encoding="utf-8")

    result = promtool("check", "rules", str(rule_file), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


# --- alerts and their unit tests ------------------------------------------------------------------


def alert_rule_tests() -> list[dict[str, Any]]:
    return [
        case
        for path in UNIT_TESTS
        for test in load_yaml(path)["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = alert_rule_tests()
    names = [alert["alert"] for alert in alerts()]

    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}

    assert [name for name in names if name not in firing] == []
    assert [name for name in names if name not in quiet] == []
    assert {case["alertname"] for case in cases} <= set(names), "a unit test names no alert"


def test_firing_unit_tests_expect_labels_and_annotations() -> None:
    for case in alert_rule_tests():
        for expected in case.get("exp_alerts") or []:
            assert expected["exp_labels"]["severity"] in {"critical", "warning"}, case["alertname"]
            annotations = expected["exp_annotations"]
            assert set(annotations) == {"summary", "description", "runbook_url"}, case["alertname"]


def test_every_alert_waits_has_a_severity_and_reports_its_value() -> None:
    for alert in alerts():
        name = alert["alert"]
        assert re.fullmatch(r"PurposeAgent[A-Za-z0-9]+", name), name
        assert re.fullmatch(r"\d+[smh]", alert["for"]), name
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        annotations = alert["annotations"]
        assert "$value" in annotations["summary"] or "$value" in annotations["description"], name
        assert annotations["description"].strip(), name


def test_runbook_anchors_are_the_alert_names_lowercased_and_unique() -> None:
    anchors = []
    for alert in alerts():
        url = alert["annotations"]["runbook_url"]
        assert url == f"docs/RUNBOOK.md#{alert['alert'].lower()}"
        anchors.append(url.partition("#")[2])

    assert len(anchors) == len(set(anchors))


# --- one catalogue --------------------------------------------------------------------------------


def test_catalogue_entries_are_well_formed() -> None:
    names = [metric["name"] for metric in catalogue()]
    assert len(names) == len(set(names))
    for metric in catalogue():
        assert metric["type"] in EXPOSED_SUFFIXES, metric["name"]
        assert metric["help"].strip(), metric["name"]
        assert isinstance(metric["labels"], list), metric["name"]
        assert metric["process"] in {"api", "worker", "any"}, metric["name"]
        # Prometheus's naming: a counter ends in _total, nothing else does.
        assert metric["name"].endswith("_total") == (metric["type"] == "counter"), metric["name"]
    own = load_yaml(OBSERVABILITY / "metrics.yml")["metrics"]
    assert all(metric["name"].startswith("purpose_agent_") for metric in own)


def unknown_names(expressions: list[str]) -> set[str]:
    known = set(exposed_names()) | set(recordings())
    return {name for expr in expressions for name in metric_names(expr)} - known


def test_rules_read_only_catalogued_metrics() -> None:
    expressions = [alert["expr"] for alert in alerts()] + list(recordings().values())

    assert unknown_names(expressions) == set()


def test_recorded_names_follow_the_level_metric_operations_convention() -> None:
    for name in recordings():
        level, metric, operations = name.split(":")
        assert level, name
        assert operations, name
        assert metric.startswith("purpose_agent_"), name
        assert not metric.endswith("_total"), name


def test_dashboard_reads_only_catalogued_metrics() -> None:
    expressions = dashboard_expressions()

    assert len(expressions) > 30
    assert unknown_names(expressions) == set()


def catalogue_metrics_read_by(expressions: list[str]) -> set[str]:
    """Catalogue entries an expression reads, directly or through a recording rule."""
    exposed, recorded = exposed_names(), recordings()
    found: set[str] = set()
    pending = [name for expr in expressions for name in metric_names(expr)]
    while pending:
        name = pending.pop()
        if name in recorded:
            pending.extend(metric_names(recorded[name]))
        elif name in exposed:
            found.add(exposed[name])
    return found


def test_every_service_metric_has_a_dashboard_panel() -> None:
    own = {metric["name"] for metric in load_yaml(OBSERVABILITY / "metrics.yml")["metrics"]}

    assert own - catalogue_metrics_read_by(dashboard_expressions()) == set()


# --- the dashboard and its provisioning -----------------------------------------------------------


def test_dashboard_has_the_variables_and_layout_grafana_needs() -> None:
    board = dashboard()
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}

    assert board["schemaVersion"] >= 36
    assert board["uid"] == "purpose-agent"
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "instance"} <= set(variables)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard_panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            # Every query filters on the job and instance menus.
            assert 'job=~"$job"' in target["expr"], panel["title"]
            assert 'instance=~"$instance"' in target["expr"], panel["title"]
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert rows == [
        "Traffic",
        "LLM providers",
        "Retrieval and chat",
        "Jobs and ingestion",
        "Security",
        "Health",
        "Process",
    ]


def test_provisioning_loads_the_dashboard_from_a_prometheus_data_source() -> None:
    provisioning = OBSERVABILITY / "grafana" / "provisioning"
    datasources = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    providers = load_yaml(provisioning / "dashboards" / "purpose-agent.yml")["providers"]

    assert [source["type"] for source in datasources] == ["prometheus"]
    assert providers[0]["type"] == "file"
    # The guide's `podman run` mounts the dashboard at this path.
    assert providers[0]["options"]["path"] in GUIDE.read_text(encoding="utf-8")


# --- the guide ------------------------------------------------------------------------------------


def test_guide_covers_every_metric_alert_and_panel() -> None:
    guide = GUIDE.read_text(encoding="utf-8")

    assert [m["name"] for m in catalogue() if f"`{m['name']}`" not in guide] == []
    assert [a["alert"] for a in alerts() if f"`{a['alert']}`" not in guide] == []
    assert [p["title"] for p in dashboard_panels() if p["title"] not in guide] == []
    assert "## Logs, traces and performance timings" in guide


SERVICE_PREFIX = "purpose_agent_"


def registered_metrics() -> dict[str, tuple[str | None, list[str]]]:
    """The service's own metrics as the code registers them: name (as exposed) to type and labels."""
    import purpose_agent.kit.log_shipping
    import purpose_agent.kit.metrics  # noqa: F401  (registers every other metric of the service)

    found: dict[str, tuple[str | None, list[str]]] = {}
    # prometheus-client has no public listing of its collectors: read the registry as it keeps them.
    for collector in list(REGISTRY._collector_to_names):
        if isinstance(collector, MetricWrapperBase) and collector._name.startswith(SERVICE_PREFIX):
            suffix = "_total" if collector._type == "counter" else ""
            found[collector._name + suffix] = (collector._type, list(collector._labelnames))
    return found


def test_the_catalogue_is_exactly_what_the_code_registers() -> None:
    catalogued = {
        metric["name"]: (metric["type"], metric["labels"])
        for metric in catalogue()
        if metric["name"].startswith(SERVICE_PREFIX)
    }
    assert registered_metrics() == catalogued
