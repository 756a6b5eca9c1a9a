"""The shipped ``deploy/models.lock`` against the shipped presets and graphs.

Fails when a preset names a model file the lockfile lacks (or tags wrongly), when a preset's
graph uses a custom node whose pack the lockfile does not pin for it, or when the lockfile
breaks its published schema.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.domain.manifest import Kind
from pipeline.standins.comfy_sim.object_info import contract_object_info
from pipeline.weights.lock import SEPARATION, ModelsLock, load_lock
from pipeline.weights.presets import refreshed
from workflows_comfy.models import model_file
from workflows_comfy.presets import PRESETS, Preset
from workflows_comfy.servable import probe_graph

ROOT = Path(__file__).parents[2]
LOCK = load_lock(ROOT / "deploy" / "models.lock")


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


def test_the_lockfile_is_up_to_date_with_the_presets() -> None:
    assert refreshed(LOCK) == LOCK, "deploy/models.lock is stale: run `pipeline models lock`"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_file_a_preset_names_is_locked_for_it_in_its_folder(name: str) -> None:
    locked = {f.name: f for f in LOCK.files if name in f.presets}
    missing = set(PRESETS[name].files()) - set(locked)
    assert not missing, f"deploy/models.lock lacks {sorted(missing)} for preset {name}"
    for file_name in PRESETS[name].files():
        row = model_file(file_name)
        assert locked[file_name].folder == row.folder, file_name
        assert locked[file_name].urls[0] == row.url, file_name


def test_the_lockfile_tags_no_file_with_a_preset_that_does_not_name_it() -> None:
    for entry in LOCK.files:
        if entry.use == SEPARATION:
            assert entry.presets == []
            continue
        assert entry.presets, f"{entry.path}: no preset uses it"
        for name in entry.presets:
            assert entry.name in PRESETS[name].files(), f"{entry.path} tagged {name}"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_node_packs_a_preset_needs_are_pinned_for_it(name: str) -> None:
    pinned_for = {pack.name for pack in LOCK.node_packs if name in pack.presets}
    assert node_packs_used(PRESETS[name]) == pinned_for


def test_node_packs_are_tagged_with_known_presets_only() -> None:
    for pack in [LOCK.comfyui, *LOCK.node_packs]:
        assert set(pack.presets) <= set(PRESETS), pack.name


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
