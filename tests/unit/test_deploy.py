"""deploy/: the Dockerfiles lint clean, compose and the Kubernetes manifests pass their schemas,
and every GPU service keeps the invariants a GPU box needs.

hadolint, shellcheck, check-jsonschema (its vendored compose-spec schema) and
kubernetes-validate (Kubernetes' own OpenAPI schemas) come from PyPI with the dev extra.
KEDA's ScaledObject has no schema there: its fields are checked here by hand.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from workflows_comfy.presets import PRESETS

pytestmark = pytest.mark.slow  # runs linters and schema checkers as subprocesses

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.31.0"
"""Native sidecars (init containers with restartPolicy Always) need 1.29+."""
DRAIN_GRACE_S = 600


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, check=False, cwd=ROOT
    )


def duration_s(value: str) -> int:
    """Compose durations: ``11m``, ``90s``, ``1h30m``."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", value))


def test_dockerfiles_pass_hadolint() -> None:
    dockerfiles = sorted(str(p.relative_to(ROOT)) for p in DEPLOY.rglob("Dockerfile"))
    assert "deploy/gpu/Dockerfile" in dockerfiles
    linted = tool("hadolint", "--config", "deploy/hadolint.yaml", *dockerfiles)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_dockerfiles_copy_only_what_the_repository_has() -> None:
    copied = 0
    for dockerfile in DEPLOY.rglob("Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY "):
                *sources, _ = line.split()[1:]
                for source in sources:
                    assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}"
                    copied += 1
    assert copied >= 10


def test_shell_scripts_pass_shellcheck() -> None:
    checked = tool("shellcheck", "deploy/gpu/entrypoint.sh")
    assert checked.returncode == 0, checked.stdout


# compose -----------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def gpu_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if "deploy/gpu/Dockerfile" in str(service.get("build", {}).get("dockerfile"))
    }


def test_compose_passes_the_compose_spec_schema() -> None:
    checked = tool(
        "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "deploy/compose.yaml"
    )
    assert checked.returncode == 0, checked.stdout


def test_every_gpu_service_reserves_exactly_one_gpu_of_its_own() -> None:
    services = gpu_services()
    assert len(services) >= 2
    devices = []
    for name, service in services.items():
        [request] = service["deploy"]["resources"]["reservations"]["devices"]
        assert request["driver"] == "nvidia", name
        assert request["capabilities"] == ["gpu"], name
        assert "count" not in request, f"{name}: count would let every service take GPU 0"
        assert len(request["device_ids"]) == 1, name
        devices.extend(request["device_ids"])
    assert len(devices) == len(set(devices))


def test_every_gpu_service_has_models_health_and_a_grace_longer_than_the_drain() -> None:
    for name, service in gpu_services().items():
        assert "models:/models" in service["volumes"], name
        assert service["healthcheck"]["test"] == ["CMD", "/app/deploy/gpu/entrypoint.sh", "health"]
        assert service["environment"]["GPU_DRAIN_GRACE_S"] == str(DRAIN_GRACE_S)
        assert duration_s(service["stop_grace_period"]) > DRAIN_GRACE_S, name
    assert "models" in compose()["volumes"]


def test_compose_names_only_hosts_it_defines() -> None:
    services = compose()["services"]
    text = (DEPLOY / "compose.yaml").read_text()
    hosts = set(re.findall(r"(?:https?://|ADDRESS: )([a-z][a-z0-9-]*)(?::\d+)", text))
    assert hosts <= set(services) | {"localhost"}, hosts - set(services)
    for service in services.values():
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


# Kubernetes --------------------------------------------------------------------------------


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """(file name, resource) for every resource under deploy/k8s (not the kustomization)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def test_kubernetes_resources_pass_the_kubernetes_schemas() -> None:
    checked = 0
    for _, doc in manifests():
        if doc["kind"] == "ScaledObject":
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 4 + len(PRESETS)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_gpu_workers_manifest_is_rendered_from_the_presets() -> None:
    spec = importlib.util.spec_from_file_location(
        "render_gpu_workers", DEPLOY / "k8s" / "render_gpu_workers.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (DEPLOY / "k8s" / "gpu-workers.yaml").read_text() == module.render(), (
        "deploy/k8s/gpu-workers.yaml is stale: run `make manifests`"
    )


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_has_a_gpu_deployment_with_comfyui_sidecar_and_models(preset: str) -> None:
    pod = of_kind("Deployment")[f"gpu-{preset}"]["spec"]["template"]["spec"]
    sync, comfyui = pod["initContainers"]
    [worker] = pod["containers"]
    assert sync["args"] == ["sync"]
    assert {"name": "MODELS_PRESETS", "value": preset} in sync["env"]
    assert comfyui["args"] == ["comfyui"]
    assert comfyui["restartPolicy"] == "Always"
    assert comfyui["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in worker["resources"].get("limits", {})
    assert comfyui["startupProbe"]["exec"]["command"][-1] == "comfyui-health"
    assert worker["args"] == ["worker"]
    for container in (sync, comfyui, worker):
        assert any(m["name"] == "models" for m in container["volumeMounts"]), container["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "wan-models"
    assert pod["terminationGracePeriodSeconds"] > DRAIN_GRACE_S


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_scales_from_zero_on_its_activity_backlog(preset: str) -> None:
    scaled = of_kind("ScaledObject")[f"gpu-{preset}"]["spec"]
    assert scaled["scaleTargetRef"]["name"] in of_kind("Deployment")
    assert scaled["scaleTargetRef"]["name"] == f"gpu-{preset}"
    assert scaled["minReplicaCount"] == 0
    # The preset's queue and its separation queue (a session that separates starts there).
    triggers = scaled["triggers"]
    assert [t["metadata"]["taskQueue"] for t in triggers] == [
        f"gpu.{preset}",
        f"gpu.{preset}.separation",
    ]
    for trigger in triggers:
        assert trigger["type"] == "temporal"
        assert trigger["metadata"]["queueTypes"] == "activity"
        assert trigger["metadata"]["endpointFromEnv"] == "TEMPORAL_ADDRESS"
    assert "TEMPORAL_ADDRESS" in of_kind("ConfigMap")["pipeline-config"]["data"]
