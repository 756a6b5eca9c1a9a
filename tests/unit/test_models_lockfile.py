"""The shipped ``deploy/models.lock`` against the shipped presets and graphs.

Fails when a preset names a model file the lockfile lacks (or tags wrongly), when a preset's
graph uses a custom node whose pack the lockfile does not pin for it, or when the lockfile
breaks its published schema.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import subprocess
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.domain.manifest import Kind
from pipeline.standins.comfy_sim.object_info import contract_object_info
from pipeline.weights.lock import SEPARATION, ModelsLock, load_lock
from workflows_comfy.presets import PRESETS, Preset
from workflows_comfy.servable import probe_graph

ROOT = Path(__file__).parents[2]
LOCK = load_lock(ROOT / "deploy" / "models.lock")


def preset_files(preset: Any) -> set[str]:
    """Every model file name a preset's fields (nested ones included) name."""
    found: set[str] = set()
    for field in fields(preset):
        value = getattr(preset, field.name)
        if is_dataclass(value):
            found |= preset_files(value)
        elif isinstance(value, str) and value.endswith((".safetensors", ".gguf")):
            found.add(value)
    return found


def contract_folders() -> dict[str, set[str]]:
    """File name → the folders the captured ComfyUI lists it in."""
    resource = importlib.resources.files("pipeline.standins.comfy_sim") / "contract/models.json"
    listed = json.loads(resource.read_text("utf-8"))
    folders: dict[str, set[str]] = {}
    for folder, names in listed["placeholder_files_by_directory"].items():
        for name in names:
            folders.setdefault(name, set()).add(folder)
    return folders


def node_packs_used(preset: Preset) -> set[str]:
    """The custom node packs (``custom_nodes/{name}``) the preset's graph needs."""
    object_info = contract_object_info()
    modules = {
        object_info[node["class_type"]]["python_module"]
        for node in probe_graph(Kind(preset.kind), preset.name).values()
    }
    return {m.split(".")[1] for m in modules if m.startswith("custom_nodes.")}


@pytest.mark.slow
def test_the_lockfile_passes_its_published_schema() -> None:
    checked = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--schemafile",
            "pipeline/schemas/models-lock.v1.json",
            "deploy/models.lock",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_file_a_preset_names_is_locked_for_it_in_a_comfyui_folder(name: str) -> None:
    preset = PRESETS[name]
    locked = {f.name: f for f in LOCK.files if name in f.presets}
    missing = preset_files(preset) - set(locked)
    assert not missing, f"deploy/models.lock lacks {sorted(missing)} for preset {name}"
    folders = contract_folders()
    for file_name in preset_files(preset):
        assert locked[file_name].folder in folders[file_name], file_name


def test_the_lockfile_tags_no_file_with_a_preset_that_does_not_name_it() -> None:
    for entry in LOCK.files:
        if entry.use == SEPARATION:
            assert entry.presets == []
            continue
        assert entry.presets, f"{entry.path}: no preset uses it"
        for name in entry.presets:
            assert entry.name in preset_files(PRESETS[name]), f"{entry.path} tagged {name}"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_node_packs_a_preset_needs_are_pinned_for_it(name: str) -> None:
    pinned_for = {pack.name for pack in LOCK.node_packs if name in pack.presets}
    assert node_packs_used(PRESETS[name]) == pinned_for


def test_the_demucs_model_is_locked_where_the_gpu_image_looks_for_it() -> None:
    dockerfile = (ROOT / "deploy" / "gpu" / "Dockerfile").read_text()
    match = re.search(r"DEMUCS_MODEL_PATH=/models/(\S+)", dockerfile)
    assert match is not None
    separation = {f.path for f in LOCK.files if f.use == SEPARATION}
    assert match.group(1) in separation
    assert "demucs/955717e8.safetensors" in separation  # the bag htdemucs.yaml names


def test_sources_are_https_and_nothing_is_pinned_by_guesswork() -> None:
    lock: ModelsLock = LOCK
    for entry in lock.files:
        assert all(url.startswith("https://") for url in entry.urls), entry.path
        # Hashes come only from `pipeline models lock --from MIRROR`: both or neither.
        assert (entry.size is None) == (entry.sha256 is None), entry.path
