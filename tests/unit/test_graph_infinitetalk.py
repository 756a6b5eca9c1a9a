"""Seed 001's InfiniteTalk graph rebuilt from the contract's WanVideoWrapper/MultiTalk nodes."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from pipeline.domain.errors import GraphError
from pipeline.domain.frames.rules import infinitetalk_total
from pipeline.standins.comfy_sim.object_info import contract_object_info
from workflows_comfy.infinitetalk import (
    BEYOND_CONTRACT,
    InfiniteTalkParams,
    build_infinitetalk,
    infinitetalk_frames,
)
from workflows_comfy.object_info import input_specs
from workflows_comfy.presets import presets_of
from workflows_comfy.validate import validate_graph

PARAMS = InfiniteTalkParams(
    image_name="portrait.png",
    audio_name="vocals.wav",
    prompt="A woman is talking",
    width=640,
    height=640,
    num_frames=225,
    seed=3,
)
INPUT_FILES = {"portrait.png", "vocals.wav"}
SEED_001_TABLE = [81, 153, 225, 297, 369, 441, 513, 585, 657, 729]
"""Seed 001: "valid_frames = 81 + (n - 1) x 72", windows 1..10."""


def node(graph: dict[str, Any], class_type: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(i, n["inputs"]) for i, n in graph.items() if n["class_type"] == class_type]
    return found


@pytest.mark.parametrize("name", presets_of("infinitetalk"))
def test_each_infinitetalk_preset_builds_a_graph_the_contract_server_accepts(name: str) -> None:
    graph = build_infinitetalk(dataclasses.replace(PARAMS, preset=name))

    result = validate_graph(graph, contract_object_info(), input_files=INPUT_FILES)

    assert result.ok
    assert result.problems == ()
    assert [graph[n]["class_type"] for n in result.outputs_to_execute] == ["VHS_VideoCombine"]


def test_the_audio_encoder_loads_from_the_workers_disk_not_a_hub() -> None:
    graph = build_infinitetalk(PARAMS)
    assert not [n for n in graph.values() if n["class_type"].startswith("DownloadAndLoad")]
    loader_id, loader = node(graph, "Wav2VecModelLoader")
    _, embeds = node(graph, "MultiTalkWav2VecEmbeds")
    assert embeds["wav2vec_model"] == [loader_id, 0]
    offered = input_specs(contract_object_info(), "Wav2VecModelLoader")["model"].combo_values
    assert offered is not None
    assert loader["model"] in offered


def test_windows_and_motion_frames_are_set_explicitly() -> None:
    _, multitalk = node(build_infinitetalk(PARAMS), "WanVideoImageToVideoMultiTalk")
    assert (multitalk["frame_window_size"], multitalk["motion_frame"]) == (81, 9)
    assert multitalk["mode"] == "infinitetalk"


def test_audio_drives_the_sampler_and_is_muxed_at_25_fps() -> None:
    graph = build_infinitetalk(PARAMS)
    embeds_id, embeds = node(graph, "MultiTalkWav2VecEmbeds")
    audio_id, _ = node(graph, "LoadAudio")
    _, sampler = node(graph, "WanVideoSampler")
    _, combine = node(graph, "VHS_VideoCombine")

    assert embeds["audio_1"] == [audio_id, 0]
    assert (embeds["num_frames"], embeds["fps"]) == (225, 25.0)
    assert sampler["multitalk_embeds"] == [embeds_id, 0]
    assert combine["audio"] == [embeds_id, 1]
    assert (combine["frame_rate"], combine["format"]) == (25.0, "video/h264-mp4")


def test_the_only_inputs_the_contract_lacks_are_the_documented_ones() -> None:
    object_info = contract_object_info()
    h264 = object_info["VHS_VideoCombine"]["input"]["required"]["format"][1]["formats"]
    vhs_widgets = {spec[0] for spec in h264["video/h264-mp4"]}
    undeclared: dict[str, set[str]] = {}
    for inputs_node in build_infinitetalk(PARAMS).values():
        class_type = inputs_node["class_type"]
        declared = input_specs(object_info, class_type).keys()
        extra = inputs_node["inputs"].keys() - declared
        if class_type == "VHS_VideoCombine":
            extra -= vhs_widgets  # VHS reads its format's options as extra inputs.
        if extra:
            undeclared[class_type] = extra

    assert undeclared == {k: set(v) for k, v in BEYOND_CONTRACT.items()}


@pytest.mark.parametrize("windows", range(1, len(SEED_001_TABLE) + 1))
def test_rendered_frames_follow_seed_001s_window_table(windows: int) -> None:
    frames = SEED_001_TABLE[windows - 1]
    assert infinitetalk_frames(frames, 81, 9) == frames == infinitetalk_total(windows)
    assert infinitetalk_frames(frames - 1, 81, 9) == frames


def test_unaligned_frame_counts_render_a_whole_extra_window() -> None:
    # Seed 001: 7 s at 25 fps is 175 frames, which renders 225 over padded audio.
    assert infinitetalk_frames(175, 81, 9) == 225
    with pytest.raises(ValueError, match="window-aligned"):
        build_infinitetalk(dataclasses.replace(PARAMS, num_frames=175))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"motion_frame": 81}, "motion_frame must be in 1..80"),
        ({"window": 80}, "window must be 4n"),
        ({"width": 48}, "width must be a multiple of 16 from 64"),
        ({"cfg": 31.0}, "cfg must be in 0..30"),
        ({"preset": "wan22-s2v-fp8"}, "is for 's2v', not infinitetalk"),
    ],
)
def test_bad_parameters_are_refused_before_any_graph(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_infinitetalk(dataclasses.replace(PARAMS, **change))


def test_a_worker_without_the_infinitetalk_weights_refuses_naming_the_loader() -> None:
    object_info = copy.deepcopy(contract_object_info())
    del object_info["MultiTalkModelLoader"]
    graph = build_infinitetalk(PARAMS)

    result = validate_graph(graph, object_info, input_files=INPUT_FILES)

    assert not result.ok
    with pytest.raises(GraphError, match="'MultiTalkModelLoader' is not a node the server has"):
        result.raise_for_problems()
