"""The compose files: valid against the Compose Specification, and put together by docker-compose as
development and production need them (no development value or port reaches production)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.deploy.schemas import check_jsonschema

FILES = ["compose.yaml", "compose.override.yaml", "compose.production.yaml", "compose.observability.yaml"]
DEVELOPMENT = ["compose.yaml", "compose.override.yaml"]
PRODUCTION = ["compose.yaml", "compose.production.yaml"]
MONITORED = [*PRODUCTION, "compose.observability.yaml"]
needs_docker_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed"
)


def composed(files: list[str]) -> dict[str, Any]:
    """The configuration docker-compose builds from `files`, as it would run it."""
    command = ["docker-compose", "--project-directory", str(PROJECT_ROOT)]
    for name in files:
        command += ["-f", str(PROJECT_ROOT / name)]
    result = subprocess.run(
        [*command, "config"], capture_output=True, text=True, check=False, timeout=60, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Where each volume of `service` is mounted, from what (docker-compose writes `source:target:mode`)."""
    return {target: source for source, target, _ in (volume.split(":") for volume in service["volumes"])}


def test_every_compose_file_meets_the_compose_specification() -> None:
    result = check_jsonschema("compose-spec", *FILES, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_file_that_breaks_the_specification_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  api:\n    image: purpose-agent\n    replicas: two\n")
    result = check_jsonschema("compose-spec", broken)
    assert result.returncode == 1


@needs_docker_compose
def test_development_runs_every_service_with_the_api_on_localhost_only() -> None:
    services = composed(DEVELOPMENT)["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    assert services["postgres"]["image"] == "pgvector/pgvector:pg16"
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000/tcp"]
    commands = {name: services[name]["command"] for name in ("migrate", "api", "worker")}
    assert commands == {"migrate": ["migrate"], "api": ["serve"], "worker": ["worker"]}
    for name in ("api", "worker"):
        assert services[name]["environment"]["APP_ENV"] == "development"
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


@needs_docker_compose
def test_production_has_replicas_limits_secret_files_and_a_tls_proxy() -> None:
    config = composed(PRODUCTION)
    services = config["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker", "proxy"}
    api = services["api"]
    assert api["deploy"]["replicas"] == 2
    for name in ("migrate", "api", "worker"):
        service = services[name]
        environment = service["environment"]
        assert environment["APP_ENV"] == "production", name
        # Secrets only as files: no value in the environment, none of development's.
        assert not {"DATABASE_URL", "REDIS_URL", "JWT_SECRET"} & set(environment), name
        for variable in ("DATABASE_URL_FILE", "REDIS_URL_FILE", "JWT_SECRET_FILE", "METRICS_TOKEN_FILE"):
            secret = Path(environment[variable]).name
            assert {"source": secret} in service["secrets"], (name, variable)
            assert secret in config["secrets"]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert service["deploy"]["resources"]["limits"]["memory"], name
        assert "ports" not in service, name
    # Only the proxy is reached from outside, on HTTPS (and HTTP, which it redirects).
    assert sorted(port["target"] for port in services["proxy"]["ports"]) == [80, 443]
    proxy = PROJECT_ROOT / "deploy" / "proxy"
    assert mounts(services["proxy"]) == {
        "/etc/nginx/nginx.conf": str(proxy / "nginx.conf"),
        "/etc/nginx/purpose-agent/proxy.conf": str(proxy / "proxy.conf"),
    }
    nginx_conf = (proxy / "nginx.conf").read_text()
    assert "ssl_certificate /run/secrets/tls_certificate;" in nginx_conf
    assert "include /etc/nginx/purpose-agent/proxy.conf;" in nginx_conf


@needs_docker_compose
def test_monitoring_adds_prometheus_grafana_and_seq_over_production() -> None:
    services = composed(MONITORED)["services"]
    assert {"prometheus", "grafana", "seq"} <= set(services)
    observability = PROJECT_ROOT / "deploy" / "observability"
    assert mounts(services["prometheus"])["/etc/prometheus"] == str(observability / "prometheus")
    grafana = mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == str(observability / "grafana" / "provisioning")
    dashboard = "/var/lib/grafana/dashboards/purpose-agent/purpose-agent.json"
    assert grafana[dashboard] == str(observability / "grafana" / "purpose-agent.json")
    # Prometheus reads its rules beside its configuration; Grafana finds the dashboard where the
    # provisioning says it is.
    for source in [*mounts(services["prometheus"]).values(), *grafana.values()]:
        assert source.endswith("-data") or Path(source).exists(), source
    assert "rule_files" in (observability / "prometheus" / "prometheus.yml").read_text()
    provider = (observability / "grafana" / "provisioning" / "dashboards" / "purpose-agent.yml").read_text()
    assert f"path: {Path(dashboard).parent}" in provider
    assert services["api"]["environment"]["SEQ_URL"] == "http://seq:5341"
    # Monitoring UIs are not published beyond this machine.
    for name in ("prometheus", "grafana", "seq"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name
