"""Every preset's graph against the official template it follows (workflows_comfy.templates).

The templates come from the pinned ``comfyui-workflow-templates-json`` (dev extra). For each
preset: the node classes, sampler, scheduler, steps, cfg, shift, fps, window length, motion
frames and model files must equal the template's set-up, except where ``DEVIATIONS`` records
exactly that difference with a reason. A template update that moves a value fails here with
both sides named, before it can break a GPU run.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
from collections.abc import Iterable
from typing import Any

import pytest

from pipeline.domain.manifest import Kind
from pipeline.standins.comfy_sim.object_info import contract_object_info
from tests.unit.ui_workflow import FlatNode, Linked, UIWorkflow
from workflows_comfy.models import model_file, model_files
from workflows_comfy.presets import PRESETS
from workflows_comfy.servable import probe_graph
from workflows_comfy.templates import (
    DEVIATIONS,
    TEMPLATE_OF,
    TEMPLATES_PACKAGE,
    TEMPLATES_VERSION,
    deviation,
)

ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    "sampler": (
        ("KSampler", "sampler_name"),
        ("KSamplerAdvanced", "sampler_name"),
        ("KSamplerSelect", "sampler_name"),
    ),
    "scheduler": (
        ("KSampler", "scheduler"),
        ("KSamplerAdvanced", "scheduler"),
        ("BasicScheduler", "scheduler"),
    ),
    "steps": (("KSampler", "steps"), ("KSamplerAdvanced", "steps"), ("BasicScheduler", "steps")),
    "cfg": (("KSampler", "cfg"), ("KSamplerAdvanced", "cfg"), ("CFGGuider", "cfg")),
    "split_step": (("KSamplerAdvanced", "end_at_step"),),
    "shift": (("ModelSamplingSD3", "shift"),),
    "fps": (("CreateVideo", "fps"),),
    "length": (
        ("WanImageToVideo", "length"),
        ("WanSoundImageToVideo", "length"),
        ("WanSoundImageToVideoExtend", "length"),
        ("WanInfiniteTalkToVideo", "length"),
    ),
    "motion_frames": (("WanInfiniteTalkToVideo", "motion_frame_count"),),
    "mode": (("WanInfiniteTalkToVideo", "mode"),),
    "audio_scale": (("WanInfiniteTalkToVideo", "audio_scale"),),
    "lora_strength": (("LoraLoaderModelOnly", "strength_model"),),
    "negative_prompt": (),
}
"""Role → the (node class, input) pairs that hold it, in our graphs and in the templates;
``negative_prompt`` is the text of the CLIPTextEncode titled as the negative prompt."""

FILE_INPUTS = ("unet_name", "lora_name", "clip_name", "vae_name", "audio_encoder_name", "name")
HELPERS = {"PrimitiveInt", "PrimitiveFloat", "PrimitiveBoolean", "ComfySwitchNode"}
HELPERS |= {"ComfyMathExpression"}
"""Template nodes that only compute values (resolved into the inputs they feed)."""


def template(name: str) -> dict[str, Any]:
    resource = importlib.resources.files("comfyui_workflow_templates_json").joinpath(
        f"templates/{name}.json"
    )
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


def template_nodes(preset: str) -> list[FlatNode]:
    ref = TEMPLATE_OF[preset]
    workflow = UIWorkflow(template(ref.name), contract_object_info(), ref.switches)
    if ref.with_lora is None:
        return workflow.flatten()
    for component in workflow.components():
        nodes = workflow.flatten(component)
        has_lora = any(n.class_type == "LoraLoaderModelOnly" for n in nodes)
        if has_lora == ref.with_lora and any(n.class_type == "KSampler" for n in nodes):
            return nodes
    raise AssertionError(f"{ref.name} has no set-up with_lora={ref.with_lora}")


def our_nodes(preset: str) -> list[FlatNode]:
    graph = probe_graph(Kind(PRESETS[preset].kind), preset)
    return [
        FlatNode(n["class_type"], dict(n["inputs"]), (), n.get("_meta", {}).get("title", ""))
        for n in graph.values()
    ]


def normal(value: Any) -> str:
    """One spelling for both sides: 5.000000000000001 and 5.0 are the same shift."""
    if isinstance(value, bool) or value is None or isinstance(value, Linked):
        return str(value)
    if isinstance(value, int | float):
        return f"{round(float(value), 6):g}"
    return str(value)


def role_values(nodes: Iterable[FlatNode], role: str) -> set[str]:
    if role == "negative_prompt":
        return {
            str(n.inputs["text"])
            for n in nodes
            if n.class_type == "CLIPTextEncode" and "negative" in n.title.lower()
        }
    found = set()
    for node in nodes:
        for class_type, name in ROLES[role]:
            if node.class_type == class_type and name in node.inputs:
                found.add(normal(node.inputs[name]))
    return found


def files(nodes: Iterable[FlatNode]) -> set[str]:
    return {
        str(node.inputs[name])
        for node in nodes
        for name in FILE_INPUTS
        if isinstance(node.inputs.get(name), str) and "Loader" in node.class_type
    }


def classes(nodes: Iterable[FlatNode]) -> set[str]:
    return {n.class_type for n in nodes} - HELPERS


def assert_same(preset: str, role: str, ours: set[str], theirs: set[str]) -> None:
    """Equal, or different in exactly the way ``DEVIATIONS`` records for ``preset``."""
    recorded = deviation(preset, role)
    extra, missing = tuple(sorted(ours - theirs)), tuple(sorted(theirs - ours))
    if recorded is None:
        assert (extra, missing) == ((), ()), (
            f"{preset} {role}: ours {sorted(ours)} vs template {sorted(theirs)}; "
            f"fix the preset or record a Deviation with the reason"
        )
        return
    assert (extra, missing) == (tuple(sorted(recorded.ours)), tuple(sorted(recorded.template))), (
        f"{preset} {role}: ours has {extra}, the template has {missing}, but the recorded "
        f"deviation says {recorded.ours} vs {recorded.template}"
    )


def test_the_templates_are_the_pinned_package() -> None:
    assert importlib.metadata.version(TEMPLATES_PACKAGE) == TEMPLATES_VERSION


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_follows_a_template(preset: str) -> None:
    assert preset in TEMPLATE_OF


@pytest.mark.parametrize("preset", sorted(TEMPLATE_OF))
def test_the_graph_uses_the_templates_node_classes(preset: str) -> None:
    assert_same(preset, "nodes", classes(our_nodes(preset)), classes(template_nodes(preset)))


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("preset", sorted(TEMPLATE_OF))
def test_the_graph_samples_as_the_template_does(preset: str, role: str) -> None:
    ours = role_values(our_nodes(preset), role)
    theirs = role_values(template_nodes(preset), role)
    assert_same(preset, role, ours, theirs)


@pytest.mark.parametrize("preset", sorted(TEMPLATE_OF))
def test_the_graph_loads_the_templates_model_files(preset: str) -> None:
    assert_same(preset, "files", files(our_nodes(preset)), files(template_nodes(preset)))


@pytest.mark.parametrize("preset", sorted(TEMPLATE_OF))
def test_models_toml_has_each_file_with_the_templates_folder_and_url(preset: str) -> None:
    listed = {
        model["name"]: (model["directory"], model["url"])
        for node in template_nodes(preset)
        for model in node.models
    }
    for name in PRESETS[preset].files():
        row = model_file(name)
        if name in listed:
            assert (row.folder, row.url) == listed[name], name
        else:
            recorded = deviation(preset, "files")
            assert recorded is not None, name
            assert name in recorded.ours
            assert row.template.startswith("none: "), name


@pytest.mark.parametrize("name", sorted(model_files()))
def test_each_models_toml_row_is_what_its_template_lists(name: str) -> None:
    row = model_file(name)
    if row.template.startswith("none: "):
        return
    listed = {
        (model["name"], model["directory"], model["url"])
        for node in UIWorkflow(template(row.template), contract_object_info()).flatten()
        for model in node.models
    }
    assert (row.name, row.folder, row.url) in listed


def test_models_toml_lists_only_files_a_preset_uses() -> None:
    used = {name for preset in PRESETS.values() for name in preset.files()}
    assert set(model_files()) == used


def test_every_deviation_names_presets_and_gives_a_reason() -> None:
    for recorded in DEVIATIONS:
        assert set(recorded.presets) <= set(PRESETS)
        assert recorded.ours != recorded.template
        assert len(recorded.reason) > 40
