"""Bring your own graph: an operator's API-format workflow plus a binding table, as a preset.

The shipped examples (deploy/presets/examples) validate against the contract's object_info;
every kind of bad binding is refused at load with the presets file, the entry's line and the
workflow file; building writes the segment's values into the bound inputs.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pipeline.domain.errors import ConfigError, GraphError
from pipeline.domain.frames.plan import plan_i2v, plan_infinitetalk, plan_s2v
from pipeline.domain.manifest import Kind, Manifest
from pipeline.standins.comfy_sim.object_info import contract_object_info
from pipeline.weights.presets import required_files
from workflows_comfy.bound import BoundGraphPreset, Target, binding_problems
from workflows_comfy.build import SegmentGraphRequest, build_graph, handoff_frames, output_node
from workflows_comfy.preset_file import install_presets_file, read_presets_file
from workflows_comfy.presets import PRESETS, sampling_steps, unused_settings
from workflows_comfy.servable import missing, preset_models, probe_graph, servable
from workflows_comfy.validate import validate_graph

EXAMPLES = Path(__file__).parents[2] / "deploy" / "presets" / "examples"
EXAMPLE_PRESETS = {"studio-i2v": "i2v", "studio-s2v": "s2v", "studio-infinitetalk": "infinitetalk"}


def example_entry(name: str) -> dict[str, Any]:
    document = tomllib.loads((EXAMPLES / "presets.toml").read_text())
    (entry,) = [e for e in document["preset"] if e["name"] == name]
    return dict(entry)


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def entry_lines(entry: dict[str, Any], header: str = "[[preset]]") -> list[str]:
    """``entry`` as one ``[[preset]]`` of a presets file, its header spelled ``header``."""
    lines = [header]
    tables = {k: v for k, v in entry.items() if k in ("bind", "folders")}
    lines += [f"{k} = {toml_value(v)}" for k, v in entry.items() if k not in tables]
    for table, rows in tables.items():
        lines.append(f"[preset.{table}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in rows.items()]
    return lines


def write_entry(path: Path, entry: dict[str, Any], *, blank_lines: int = 0) -> Path:
    """``entry`` as the file's one ``[[preset]]``, after ``blank_lines`` empty lines."""
    lines = ["" for _ in range(blank_lines)] + entry_lines(entry)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def studio(tmp_path: Path) -> Path:
    """A copy of the example workflows, for tests to edit."""
    folder = tmp_path / "studio"
    shutil.copytree(EXAMPLES, folder)
    return folder


def test_every_example_loads_and_its_graph_validates_against_the_contract() -> None:
    presets, rows = read_presets_file(EXAMPLES / "presets.toml")
    assert {name: p.kind for name, p in presets.items()} == EXAMPLE_PRESETS
    for found in presets.values():
        assert isinstance(found, BoundGraphPreset)
        assert binding_problems(found, contract_object_info()) == []
        assert set(found.files()) <= rows.keys()
    # The graphs load the shipped presets' files, so the folders are the model table's.
    assert rows["Wan2_1_VAE_bf16.safetensors"].folder == "vae"
    assert rows["wan2.1_infiniteTalk_multi_fp16.safetensors"].folder == "model_patches"


def test_installed_examples_are_served_by_the_contract_server(restored_presets: None) -> None:
    assert install_presets_file(EXAMPLES / "presets.toml") == sorted(EXAMPLE_PRESETS)
    served = servable(contract_object_info())
    for name, kind in EXAMPLE_PRESETS.items():
        assert name in served[kind]
        graph = probe_graph(Kind(kind), name)
        result = validate_graph(graph, contract_object_info())
        assert result.ok
        assert not result.problems
        assert result.outputs_to_execute == [output_node(name)]
        assert not missing(contract_object_info(), name)
        assert {m.folder for m in preset_models(name)} >= {"vae", "text_encoders"}


def test_a_server_without_a_loaded_file_lacks_it_with_its_folder(restored_presets: None) -> None:
    install_presets_file(EXAMPLES / "presets.toml")
    info = copy.deepcopy(contract_object_info())
    info["ModelPatchLoader"]["input"]["required"]["name"] = [[]]
    lacking = missing(info, "studio-infinitetalk")
    assert lacking.model_paths() == ["model_patches/wan2.1_infiniteTalk_multi_fp16.safetensors"]
    assert "studio-infinitetalk" not in servable(info).get("infinitetalk", [])


def test_a_server_whose_node_types_differ_refuses_the_bindings(restored_presets: None) -> None:
    install_presets_file(EXAMPLES / "presets.toml")
    info = copy.deepcopy(contract_object_info())
    info["KSamplerAdvanced"]["input"]["required"]["noise_seed"][0] = "FLOAT"
    info["SaveVideo"]["output_node"] = False
    lacking = missing(info, "studio-i2v")
    assert any("noise_seed' is FLOAT, not INT" in p for p in lacking.bindings)
    assert any("output node 17 (SaveVideo) is not an output node" in p for p in lacking.bindings)
    assert "studio-i2v" not in servable(info).get("i2v", [])
    assert "binding" in lacking.describe()


def edit(entry: dict[str, Any], **bind: Any) -> dict[str, Any]:
    """``entry`` with its bind table changed: a ``None`` value removes that role."""
    table = {**entry["bind"], **bind}
    return {**entry, "bind": {k: v for k, v in table.items() if v is not None}}


I2V = example_entry("studio-i2v")


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (edit(I2V, image="99.image"), "bind.image: node 99 is not in the workflow"),
        (edit(I2V, image="1.imag"), "node 1 (LoadImage) has no input 'imag'; it has image"),
        (edit(I2V, seed="10.text"), "input 'text' holds"),
        (edit(I2V, seed="10.text"), "not an INT (seed)"),
        (edit(I2V, cfg="10.text"), "not a FLOAT (cfg)"),
        (edit(I2V, prompt="12.width"), "holds 832, not a STRING (prompt)"),
        (edit(I2V, image="13.noise_seed"), "image must bind LoadImage.image"),
        (edit(I2V, width="13.model"), "input 'model' is linked from node 6; bind a value"),
        (edit(I2V, prompt=None), "an i2v graph must bind 'prompt'"),
        (edit(I2V, fps=None), "an i2v graph must bind 'fps'"),
        (edit(I2V, audio="1.image"), "an i2v graph has no 'audio'"),
        (edit(I2V, colour="1.image"), "unknown role 'colour'"),
        (edit(I2V, image="image"), "bind.image: 'image' is not 'node_id.input_name'"),
        (edit(I2V, output="99"), "output node 99 is not in the workflow"),
        (edit(I2V, output="16"), "output node 16 (CreateVideo) is read by node 17"),
        (edit(I2V, output=None), "bind.output: name the node whose video is the segment"),
        ({**I2V, "steps": 6, "bind": edit(I2V, steps=None)["bind"]}, "steps = 6 does nothing"),
        ({**I2V, "base": "wan22-i2v-fp8"}, "base only derive shipped presets"),
        ({**I2V, "kind": None}, "missing kind"),
        ({**I2V, "workflow": "nope.json"}, "cannot read the workflow"),
        ({**I2V, "folders": {"x.pth": "loras"}}, "folders names x.pth, which the workflow does"),
    ],
)
def test_a_bad_binding_is_refused_at_load_with_file_line_and_workflow(
    studio: Path, entry: dict[str, Any], says: str
) -> None:
    entry = {k: v for k, v in entry.items() if v is not None}
    path = write_entry(studio / "presets.toml", entry, blank_lines=2)
    with pytest.raises(ConfigError) as caught:
        read_presets_file(path)
    assert f"{path}:3:" in caught.value.message
    assert says in caught.value.message
    if "kind" in entry and "base" not in entry:
        assert f"workflow {studio / entry['workflow']}" in caught.value.message


def test_the_editors_ui_format_is_refused_with_how_to_export(studio: Path) -> None:
    (studio / "i2v.json").write_text(
        json.dumps({"nodes": [{"id": 1}], "links": [], "version": 0.4})
    )
    path = write_entry(studio / "presets.toml", I2V)
    with pytest.raises(
        ConfigError, match=r"presets\.toml:1: workflow .*i2v\.json: .*'Export \(API\)'"
    ):
        read_presets_file(path)


def test_a_loader_of_unknown_folder_needs_the_folder_named(
    studio: Path, restored_presets: None
) -> None:
    graph = json.loads((studio / "i2v.json").read_text())
    graph["30"] = {"class_type": "StudioUpscaler", "inputs": {"model": "studio_up.pth"}}
    (studio / "i2v.json").write_text(json.dumps(graph))
    path = write_entry(studio / "presets.toml", I2V)
    with pytest.raises(ConfigError, match=r"studio_up\.pth \(node 30 StudioUpscaler\.model\)"):
        read_presets_file(path)
    write_entry(path, {**I2V, "folders": {"studio_up.pth": "upscale_models"}})
    presets, rows = read_presets_file(path)
    assert rows["studio_up.pth"].folder == "upscale_models"
    assert "studio_up.pth" in presets["studio-i2v"].files()
    install_presets_file(path)
    assert missing(contract_object_info(), "studio-i2v").nodes == ("StudioUpscaler",)
    # No source is known for it: the operator provides it, the lockfile leaves it out.
    locked = {f.name: f.presets for f in required_files()}
    assert "studio_up.pth" not in locked
    assert "studio-i2v" in locked["wan_2.1_vae.safetensors"]


def test_an_infinitetalk_graph_must_survive_losing_its_previous_window(studio: Path) -> None:
    entry = example_entry("studio-infinitetalk")
    graph = json.loads((studio / "infinitetalk.json").read_text())
    # A second CreateVideo of the previous window's frames, its fps bound as well.
    graph["30"] = {"class_type": "CreateVideo", "inputs": {"images": ["14", 0], "fps": 25.0}}
    (studio / "infinitetalk.json").write_text(json.dumps(graph))
    path = write_entry(studio / "presets.toml", edit(entry, fps=["23.fps", "30.fps"]))
    with pytest.raises(ConfigError, match=r"the first window\) the graph loses fps \(30\.fps\)"):
        read_presets_file(path)
    graph["24"]["inputs"]["video"] = ["30", 0]  # save the previous window itself
    del graph["23"]
    (studio / "infinitetalk.json").write_text(json.dumps(graph))
    path = write_entry(studio / "presets.toml", edit(entry, fps="30.fps"))
    with pytest.raises(
        ConfigError, match=r"the first window\) the graph loses fps \(30\.fps\), the output$"
    ):
        read_presets_file(path)


@pytest.fixture
def examples(restored_presets: None) -> None:
    install_presets_file(EXAMPLES / "presets.toml")


def request(preset: str, **changes: Any) -> SegmentGraphRequest:
    fields: dict[str, Any] = {
        "image_name": "sess_0_000.png",
        "prompt": "a studio prompt",
        "width": 640,
        "height": 368,
        "fps": 16.0,
        "length": 49,
        "seed": 1234,
        "preset": preset,
        "filename_prefix": "video/sess_000",
        **changes,
    }
    return SegmentGraphRequest(**fields)


def test_an_i2v_segments_values_land_in_the_bound_inputs(examples: None) -> None:
    graph = build_graph(Kind.I2V, request("studio-i2v", steps=8, cfg=3.5, negative_prompt="blur"))
    inputs = {node: graph[node]["inputs"] for node in graph}
    assert inputs["1"]["image"] == "sess_0_000.png"
    assert inputs["10"]["text"] == "a studio prompt"
    assert inputs["11"]["text"] == "blur"
    assert [inputs[n]["noise_seed"] for n in ("13", "14")] == [1234, 1234]
    assert [inputs[n]["steps"] for n in ("13", "14")] == [8, 8]
    assert [inputs[n]["cfg"] for n in ("13", "14")] == [3.5, 3.5]
    assert (inputs["12"]["width"], inputs["12"]["height"], inputs["12"]["length"]) == (640, 368, 49)
    assert inputs["16"]["fps"] == 16.0
    assert inputs["17"]["filename_prefix"] == "video/sess_000"
    # What is not bound (the experts' hand-over step) is the workflow's own.
    assert inputs["13"]["end_at_step"] == 2
    assert validate_graph(graph, contract_object_info()).ok


def test_unset_optional_roles_keep_the_graphs_or_the_presets_values(examples: None) -> None:
    shipped = json.loads((EXAMPLES / "i2v.json").read_text())
    graph = build_graph(Kind.I2V, request("studio-i2v"))
    assert graph["11"]["inputs"]["text"] == shipped["11"]["inputs"]["text"]
    assert graph["13"]["inputs"]["steps"] == PRESETS["studio-i2v"].steps == 4
    assert PRESETS["studio-infinitetalk"].steps == 6  # the entry's steps = 6


def test_an_s2v_segment_renders_all_its_frames_in_one_pass(examples: None) -> None:
    plan = plan_s2v(11.3, width=640, height=368)
    length = plan.segments[0].length
    graph = build_graph(
        Kind.S2V,
        request("studio-s2v", audio_name="sess_audio.wav", length=length, windows=plan.windows),
    )
    assert graph["2"]["inputs"]["audio"] == "sess_audio.wav"
    assert graph["12"]["inputs"]["length"] == length > 77
    assert validate_graph(graph, contract_object_info()).ok


def test_an_s2v_plan_of_several_segments_cannot_bind_a_one_prompt_graph(examples: None) -> None:
    plan = plan_s2v(40.0, width=640, height=368)
    assert len(plan.segments) == 3
    with pytest.raises(GraphError, match="renders every chunk in one prompt"):
        build_graph(
            Kind.S2V,
            request(
                "studio-s2v",
                audio_name="sess_audio.wav",
                length=plan.segments[0].length,
                windows=plan.windows,
            ),
        )


def test_s2v_without_audio_is_a_graph_error(examples: None) -> None:
    with pytest.raises(GraphError, match="s2v needs the driving audio"):
        build_graph(Kind.S2V, request("studio-s2v"))


def test_infinitetalk_windows_continue_the_previous_one(examples: None) -> None:
    plan = plan_infinitetalk(7.0, width=640, height=368)
    assert plan.windows is not None
    assert plan.windows.count >= 3

    def window(index: int) -> dict[str, Any]:
        return build_graph(
            Kind.INFINITETALK,
            request(
                "studio-infinitetalk",
                audio_name="vocals.wav",
                fps=25.0,
                length=81,
                windows=plan.windows,
                segment_index=index,
                previous_video_name=f"previous_{index}.mp4" if index else None,
            ),
        )

    first, third = window(0), window(2)
    assert {"13", "14"}.isdisjoint(first)
    assert "previous_frames" not in first["15"]["inputs"]
    assert first["3"]["inputs"]["start_index"] == 0.0
    assert first["3"]["inputs"]["duration"] == 81 / 25
    assert third["13"]["inputs"]["file"] == "previous_2.mp4"
    assert third["15"]["inputs"]["previous_frames"] == ["14", 0]
    # Window 2 starts at frame 144; its features are read from the previous window's start.
    assert third["3"]["inputs"]["start_index"] == (144 - 72) / 25
    assert third["3"]["inputs"]["duration"] == (81 + 72) / 25
    assert third["15"]["inputs"]["motion_frame_count"] == 9
    for graph in (first, third):
        assert validate_graph(graph, contract_object_info()).ok


def test_a_bound_preset_of_another_kind_is_a_graph_error(examples: None) -> None:
    with pytest.raises(GraphError, match="is for 'i2v', not s2v"):
        build_graph(Kind.S2V, request("studio-i2v", audio_name="a.wav"))


def test_the_readme_example_binds_the_shipped_i2v_workflow(studio: Path) -> None:
    readme = (Path(__file__).parents[2] / "docs" / "presets.md").read_text()
    example = re.search(
        r"```toml\n(\[\[preset\]\]\nname = \"studio-i2v\".*?)```", readme, re.DOTALL
    )
    assert example is not None
    path = studio / "readme.toml"
    path.write_text(example.group(1))
    (found,) = read_presets_file(path)[0].values()
    assert isinstance(found, BoundGraphPreset)
    assert found.bindings["width"] == (Target("12", "width"),)
    assert found.bindings["seed"] == (Target("13", "noise_seed"), Target("14", "noise_seed"))
    assert (found.kind, found.steps, found.output) == ("i2v", 4, "17")


@pytest.mark.parametrize("header", ["[[preset]]  # the studio's", "[[ preset ]]"])
def test_the_line_named_counts_headers_with_comments_and_spaces(studio: Path, header: str) -> None:
    good = entry_lines(I2V, header)
    bad = entry_lines({**edit(I2V, width="12.widht"), "name": "b"})
    path = studio / "presets.toml"
    path.write_text("\n".join([*good, "", *bad]) + "\n")
    with pytest.raises(ConfigError) as caught:
        read_presets_file(path)
    assert caught.value.message.startswith(f"{path}:{len(good) + 2}: workflow ")
    assert "has no input 'widht'" in caught.value.message


def test_a_name_defined_twice_is_refused_naming_both_lines(studio: Path) -> None:
    first = entry_lines(I2V)
    path = studio / "presets.toml"
    path.write_text("\n".join([*first, *entry_lines(I2V)]) + "\n")
    with pytest.raises(ConfigError) as caught:
        read_presets_file(path)
    assert caught.value.message == (
        f"{path}:{len(first) + 1}: preset 'studio-i2v' is already defined at line 1; "
        "give each [[preset]] its own name"
    )


def test_a_graph_may_replace_a_shipped_preset_of_its_kind_only(
    studio: Path, restored_presets: None
) -> None:
    path = write_entry(studio / "presets.toml", {**I2V, "name": "wan22-s2v-fp8"})
    with pytest.raises(ConfigError) as caught:
        read_presets_file(path)
    assert caught.value.message == (
        f"{path}:1: 'wan22-s2v-fp8' is the name of a shipped s2v preset (the default of s2v "
        "drops); an i2v preset cannot replace it: give it another name"
    )
    write_entry(path, {**I2V, "name": "wan22-i2v-fp8"})
    install_presets_file(path)
    assert isinstance(PRESETS["wan22-i2v-fp8"], BoundGraphPreset)


def test_a_missing_relative_workflow_says_where_it_was_looked_for(studio: Path) -> None:
    path = write_entry(studio / "presets.toml", {**I2V, "workflow": "studio/i2v.json"})
    with pytest.raises(ConfigError) as caught:
        read_presets_file(path)
    assert caught.value.message.endswith(
        "cannot read the workflow: No such file or directory (a relative workflow is read "
        f"from the presets file's folder, {studio.resolve()})"
    )


def test_manifest_settings_a_graph_does_not_bind_are_noted_and_its_own_steps_counted(
    studio: Path, restored_presets: None
) -> None:
    graph = json.loads((studio / "i2v.json").read_text())
    for sampler in ("13", "14"):
        graph[sampler]["inputs"]["steps"] = 20
    (studio / "i2v.json").write_text(json.dumps(graph))
    fixed = {**edit(I2V, steps=None, cfg=None, negative_prompt=None), "name": "studio-fixed"}
    path = studio / "presets.toml"
    path.write_text("\n".join([*entry_lines(I2V), *entry_lines(fixed)]) + "\n")
    install_presets_file(path)
    given: dict[str, Any] = {"kind": "i2v", "image": "a.png", "prompt": "p", "steps": 7, "cfg": 3.5}
    ignored = Manifest.model_validate(
        {**given, "negative_prompt": "blur", "preset": "studio-fixed"}
    )
    assert unused_settings(ignored) == [
        f"{name} = {value!r} is not used: preset 'studio-fixed' binds no {name}, "
        "so its workflow's own value applies"
        for name, value in (("steps", 7), ("cfg", 3.5), ("negative_prompt", "blur"))
    ]
    assert sampling_steps(ignored) == 20
    taken = Manifest.model_validate({**given, "preset": "studio-i2v"})
    assert (unused_settings(taken), sampling_steps(taken)) == ([], 7)


def test_a_bound_graph_hands_over_through_its_video(examples: None) -> None:
    plan = plan_i2v(extensions=1, fps=16, width=640, height=368)
    assert [handoff_frames(plan, s.index, "studio-i2v") for s in plan.segments] == [0, 0]
    with pytest.raises(GraphError, match="hands over through its video"):
        build_graph(Kind.I2V, request("studio-i2v", handoff_frames=1))
