"""validate_graph answers like the real ComfyUI server did in the contract captures."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.domain.errors import GraphError
from pipeline.domain.manifest import Kind
from pipeline.standins.comfy_sim.object_info import contract_object_info
from pipeline.standins.comfy_sim.tracebacks import validation_traceback
from workflows_comfy.presets import DEFAULT_PRESET
from workflows_comfy.servable import probe_graph
from workflows_comfy.validate import validate_graph

CAPTURES = Path(__file__).parents[1] / "data" / "comfyui_contract" / "http"
INPUT_FILES = frozenset({"contract_in.png", "contract_voice.wav"})
"""What the capture server's input folder held when these prompts were posted."""

REJECTED = sorted(
    p.stem.removeprefix("post_prompt_")
    for p in CAPTURES.glob("post_prompt_err_*.json")
    if "prompt" in (json.loads(p.read_text())["request"].get("json") or {})
)


def capture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CAPTURES / f"post_prompt_{name}.json").read_text())
    return loaded


def graph_of(name: str) -> dict[str, Any]:
    prompt: dict[str, Any] = capture(name)["request"]["json"]["prompt"]
    return prompt


def as_captured(name: str) -> dict[str, Any]:
    """The contract's object_info with the combo lists the capture server offered then.

    The grown contract lists more placeholder model files (``contract/README.md``, C+), and
    a "not in list" error quotes the whole list.
    """
    info = copy.deepcopy(contract_object_info())
    for entry in capture(name)["body"].get("node_errors", {}).values():
        for error in entry["errors"]:
            extra = error["extra_info"]
            if error["type"] == "value_not_in_list" and extra.get("input_config"):
                inputs = info[entry["class_type"]]["input"]["required"]
                inputs[extra["input_name"]] = extra["input_config"]
    return info


def as_json(value: Any) -> Any:
    """Tuples become lists, as on the wire."""
    return json.loads(json.dumps(value))


def test_every_captured_rejection_is_covered() -> None:
    assert len(REJECTED) == 14


@pytest.mark.parametrize("name", REJECTED)
def test_rejected_graph_gets_the_captured_error_body(name: str) -> None:
    result = validate_graph(
        graph_of(name), as_captured(name), INPUT_FILES, tracebacks=validation_traceback
    )

    assert not result.ok
    assert result.outputs_to_execute == []
    answer = {"error": result.error, "node_errors": result.node_errors}
    assert as_json(answer) == capture(name)["body"]


def test_one_invalid_output_leaves_the_valid_one_to_run() -> None:
    name = "partial_one_output_invalid"

    result = validate_graph(
        graph_of(name), contract_object_info(), INPUT_FILES, tracebacks=validation_traceback
    )

    assert result.ok
    assert result.error is None
    assert result.outputs_to_execute == ["3"]
    assert as_json(result.node_errors) == capture(name)["body"]["node_errors"]


@pytest.mark.parametrize(
    "name", ["a_success_core", "c_video_core_savevideo", "g_wan_i2v_empty_weights"]
)
def test_accepted_graph_has_no_problems(name: str) -> None:
    result = validate_graph(
        graph_of(name), contract_object_info(), INPUT_FILES, tracebacks=validation_traceback
    )

    assert result.ok
    assert result.node_errors == {}
    result.raise_for_problems()


def test_missing_input_file_is_only_checked_when_input_files_are_given() -> None:
    graph = graph_of("err_loadimage_missing_file")

    assert validate_graph(graph, contract_object_info(), None).ok
    assert not validate_graph(graph, contract_object_info(), INPUT_FILES).ok


def test_widget_values_are_converted_like_comfyui_queues_them() -> None:
    graph = graph_of("a_success_core")
    graph["2"]["inputs"]["width"] = "32"

    result = validate_graph(graph, contract_object_info(), INPUT_FILES)

    assert result.prompt["2"]["inputs"]["width"] == 32
    assert graph["2"]["inputs"]["width"] == "32"


def test_v3_combo_values_are_checked_against_their_options() -> None:
    graph = graph_of("c_video_core_savevideo")
    # ComfyUI 0.33.0's SaveVideo offers auto, mp4, mkv and webm (a dynamic combo).
    graph["4"]["inputs"]["format"] = "gif"

    result = validate_graph(graph, contract_object_info(), INPUT_FILES)

    assert result.node_errors["4"]["errors"][0]["type"] == "value_not_in_list"


def test_link_cycle_is_reported_not_recursed_forever() -> None:
    graph = graph_of("a_success_core")
    graph["1"] = {"class_type": "ImageScale", "inputs": {**graph["2"]["inputs"], "image": ["2", 0]}}

    result = validate_graph(graph, contract_object_info(), INPUT_FILES)

    assert not result.ok
    kinds = {e["type"] for node in result.node_errors.values() for e in node["errors"]}
    assert kinds == {"dependency_cycle"}


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        (
            "g_wan_i2v_empty_weights",
            ("8", "length", 16385),
            "node 8 (WanImageToVideo) input 'length': 16385 is above the maximum 16384",
        ),
        (
            "a_success_core",
            ("2", "width", -5),
            "node 2 (ImageScale) input 'width': -5 is below the minimum 0",
        ),
        (
            "a_success_core",
            ("2", "upscale_method", "magic"),
            "node 2 (ImageScale) input 'upscale_method': 'magic' is not one of 'nearest-exact', "
            "'bilinear', 'area', 'bicubic', 'lanczos'",
        ),
        (
            "a_success_core",
            ("2", "image", ["99", 0]),
            "node 2 (ImageScale) input 'image': links to node '99', which is not in the graph",
        ),
        (
            "g_wan_i2v_empty_weights",
            ("4", "model", ["7", 0]),
            "node 4 (LoraLoaderModelOnly) input 'model': links to output 0 of node 7 (LoadImage) "
            "of type IMAGE, but MODEL is expected",
        ),
        (
            "a_success_core",
            ("1", "image", "gone.png"),
            "node 1 (LoadImage) input 'image': file 'gone.png' is not in the worker's input folder",
        ),
    ],
)
def test_raise_for_problems_names_node_input_and_expectation(
    name: str, edit: tuple[str, str, Any], message: str
) -> None:
    graph = graph_of(name)
    node_id, input_name, value = edit
    graph[node_id]["inputs"][input_name] = value

    result = validate_graph(graph, contract_object_info(), INPUT_FILES)

    with pytest.raises(GraphError) as raised:
        result.raise_for_problems()
    assert str(raised.value) == message
    assert raised.value.detail["node_errors"] == result.node_errors


def test_raise_for_problems_also_refuses_a_partially_valid_graph() -> None:
    graph = graph_of("partial_one_output_invalid")

    result = validate_graph(graph, contract_object_info(), INPUT_FILES)

    with pytest.raises(GraphError, match=r"node 5 \(ImageScale\) input 'width': 999999 is above"):
        result.raise_for_problems()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("err_unknown_class_type", "node 2: 'NoSuchNodeXYZ' is not a node the server has"),
        ("err_class_type_missing", "node 2 has no class_type"),
        ("err_no_output_node", "the graph has no output node"),
        ("err_required_input_missing", "node 2 (ImageScale) input 'width': required input"),
    ],
)
def test_raise_for_problems_explains_graph_level_rejections(name: str, message: str) -> None:
    result = validate_graph(
        graph_of(name), contract_object_info(), INPUT_FILES, tracebacks=validation_traceback
    )

    with pytest.raises(GraphError, match=re.escape(message)):
        result.raise_for_problems()


def _codec_combo(codecs: list[str], **extra: Any) -> list[Any]:
    return [
        "COMFY_DYNAMICCOMBO_V3",
        {"options": [{"key": c, "inputs": {"required": {}}} for c in codecs], **extra},
    ]


CURRENT_SAVE_VIDEO: dict[str, Any] = {
    "input": {
        "required": {
            "video": ["VIDEO", {}],
            "filename_prefix": ["STRING", {"default": "video/ComfyUI"}],
            "format": [
                "COMFY_DYNAMICCOMBO_V3",
                {
                    "options": [
                        {"key": key, "inputs": {"required": {"codec": _codec_combo(codecs)}}}
                        for key, codecs in (
                            ("auto", ["auto", "h264", "av1"]),
                            ("mp4", ["auto", "h264", "av1"]),
                            ("mkv", ["auto", "h264", "av1"]),
                            ("webm", ["auto", "av1"]),
                        )
                    ]
                },
            ],
        },
        "optional": {"codec": _codec_combo(["auto", "h264", "av1"], hidden=True)},
    },
    "input_order": {"required": ["video", "filename_prefix", "format"], "optional": ["codec"]},
    "output": ["VIDEO"],
    "output_node": True,
}
"""``SaveVideo`` of current ComfyUI, derived from ``comfy_extras/nodes_video.py``
(Comfy-Org/ComfyUI): ``format`` a dynamic combo nesting ``format.codec``, plus the hidden
optional top-level ``codec``."""


@pytest.mark.parametrize("kind", ["i2v", "s2v", "infinitetalk"])
def test_graphs_validate_against_the_nested_save_video_of_current_comfyui(kind: str) -> None:
    object_info = {**contract_object_info(), "SaveVideo": CURRENT_SAVE_VIDEO}
    graph = probe_graph(Kind(kind), DEFAULT_PRESET[kind])
    (save,) = [n for n in graph.values() if n["class_type"] == "SaveVideo"]

    result = validate_graph(graph, object_info)

    assert result.ok, result.problems
    assert (save["inputs"]["format"], save["inputs"]["format.codec"]) == ("mp4", "h264")


def test_a_format_the_nested_combo_lacks_is_not_in_list() -> None:
    object_info = {**contract_object_info(), "SaveVideo": CURRENT_SAVE_VIDEO}
    graph = probe_graph(Kind.I2V, DEFAULT_PRESET["i2v"])
    (save,) = [n for n in graph.values() if n["class_type"] == "SaveVideo"]
    save["inputs"]["format"] = "gif"

    result = validate_graph(graph, object_info)

    assert not result.ok
    assert any("'gif' is not one of" in problem for problem in result.problems)
