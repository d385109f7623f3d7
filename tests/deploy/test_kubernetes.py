"""The Kubernetes manifests as a cluster would get them: `kubectl kustomize` of the production overlay,
valid for the API server's schemas, and consistent with the image and with each other."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_ROOT

KUBERNETES = PROJECT_ROOT / "deploy" / "kubernetes"
OVERLAY = KUBERNETES / "overlays" / "production"
VALIDATE = str(Path(sys.executable).with_name("kubernetes-validate"))

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def rendered() -> str:
    result = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAY)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def resources(rendered: str) -> dict[tuple[str, str], Resource]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(rendered) if doc}


def pod_specs(resources: dict[tuple[str, str], Resource]) -> dict[str, Resource]:
    return {
        name: doc["spec"]["template"]["spec"]
        for (kind, name), doc in resources.items()
        if kind in ("Deployment", "Job")
    }


def test_the_production_overlay_is_valid_for_the_api_server_strictly(rendered: str) -> None:
    result = subprocess.run(
        [VALIDATE, "--strict", "-"], input=rendered, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every resource has a schema it passed: no kind was skipped as unknown.
    assert "WARN" not in result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(rendered.split("\n---\n"))


def test_it_holds_every_part_of_a_deployment(resources: dict[tuple[str, str], Resource]) -> None:
    assert set(resources) == {
        ("Namespace", "purpose-agent"),
        ("ServiceAccount", "purpose-agent"),
        ("ConfigMap", "purpose-agent"),
        ("Service", "purpose-agent-api"),
        ("Deployment", "purpose-agent-api"),
        ("Deployment", "purpose-agent-worker"),
        ("Job", "purpose-agent-migrate"),
        ("HorizontalPodAutoscaler", "purpose-agent-api"),
        ("PodDisruptionBudget", "purpose-agent-api"),
        ("Ingress", "purpose-agent"),
        ("NetworkPolicy", "purpose-agent"),
    }
    for (kind, _), doc in resources.items():
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == "purpose-agent"


def test_every_pod_runs_as_the_image_s_non_root_user_on_a_read_only_root(
    resources: dict[tuple[str, str], Resource],
) -> None:
    [image_user] = re.findall(r"^USER (\d+):", (PROJECT_ROOT / "Dockerfile").read_text(), re.MULTILINE)
    for name, spec in pod_specs(resources).items():
        assert spec["securityContext"]["runAsNonRoot"], name
        assert spec["securityContext"]["runAsUser"] == int(image_user), name
        assert spec["automountServiceAccountToken"] is False, name
        [container] = spec["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"], name
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        assert container["image"] == "registry.example.com/purpose-agent:0.1.0", name
        assert container["resources"]["limits"]["memory"], name
        # The only writable places: the state volume and /tmp.
        writable = {mount["mountPath"] for mount in container["volumeMounts"] if not mount.get("readOnly")}
        assert writable == {"/data", "/tmp"}, name


def test_the_command_chooses_what_each_workload_runs(resources: dict[tuple[str, str], Resource]) -> None:
    commands = {name: spec["containers"][0]["args"] for name, spec in pod_specs(resources).items()}
    assert commands == {
        "purpose-agent-api": ["serve"],
        "purpose-agent-worker": ["worker"],
        "purpose-agent-migrate": ["migrate"],
    }


def test_the_api_is_probed_scaled_kept_and_reached(resources: dict[tuple[str, str], Resource]) -> None:
    api = resources[("Deployment", "purpose-agent-api")]
    [container] = api["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod_labels: dict[str, str] = api["spec"]["template"]["metadata"]["labels"]

    def selects_api(selector: dict[str, str]) -> bool:
        return selector.items() <= pod_labels.items()

    hpa = resources[("HorizontalPodAutoscaler", "purpose-agent-api")]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "purpose-agent-api",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = resources[("PodDisruptionBudget", "purpose-agent-api")]
    assert selects_api(pdb["spec"]["selector"]["matchLabels"])
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    service = resources[("Service", "purpose-agent-api")]
    assert selects_api(service["spec"]["selector"])
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    # The worker's pods are not the API's: the Service and the budget never pick them.
    worker = resources[("Deployment", "purpose-agent-worker")]
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= worker_labels.items()

    ingress = resources[("Ingress", "purpose-agent")]
    [tls] = ingress["spec"]["tls"]
    [rule] = ingress["spec"]["rules"]
    assert tls["hosts"] == [rule["host"]] == ["agents.example.com"]
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "purpose-agent-api"
    policy = resources[("NetworkPolicy", "purpose-agent")]
    assert selects_api(policy["spec"]["podSelector"]["matchLabels"])
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]


def test_the_secret_s_keys_are_the_files_the_settings_name(
    resources: dict[tuple[str, str], Resource],
) -> None:
    settings = resources[("ConfigMap", "purpose-agent")]["data"]
    assert settings["APP_ENV"] == "production"
    files = {name: path for name, path in settings.items() if name.endswith("_FILE")}
    assert set(files) == {"DATABASE_URL_FILE", "REDIS_URL_FILE", "JWT_SECRET_FILE", "METRICS_TOKEN_FILE"}
    # No secret value sits in the ConfigMap.
    assert not {"DATABASE_URL", "REDIS_URL", "JWT_SECRET", "METRICS_TOKEN"} & set(settings)
    for name, spec in pod_specs(resources).items():
        [container] = spec["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": "purpose-agent"}}], name
        [mount] = [mount for mount in container["volumeMounts"] if mount["name"] == "secrets"]
        [volume] = [volume for volume in spec["volumes"] if volume["name"] == "secrets"]
        assert volume["secret"]["secretName"] == "purpose-agent", name
        keys = {str(Path(path).relative_to(mount["mountPath"])) for path in files.values()}
        assert keys == {"database_url", "redis_url", "jwt_secret", "metrics_token"}, name

    external = yaml.safe_load((KUBERNETES / "examples" / "external-secret.yaml").read_text())
    assert external["kind"] == "ExternalSecret"
    assert external["spec"]["target"]["name"] == "purpose-agent"
    assert {item["secretKey"] for item in external["spec"]["data"]} == keys
