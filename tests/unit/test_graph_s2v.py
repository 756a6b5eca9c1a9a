"""The Wan 2.2 S2V graph: chunked as ComfyUI's S2V nodes expect, valid on the contract server."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from pipeline.domain.errors import GraphError
from pipeline.domain.frames.rules import s2v_total_frames
from pipeline.standins.comfy_sim.object_info import contract_object_info
from workflows_comfy.presets import DEFAULT_PRESET, presets_of
from workflows_comfy.s2v import S2VParams, build_s2v, s2v_output_frames
from workflows_comfy.validate import validate_graph

PARAMS = S2VParams(
    image_name="face.png",
    audio_name="vocals.wav",
    prompt="a woman sings",
    width=640,
    height=640,
    chunks=3,
    seed=7,
)
INPUT_FILES = {"face.png", "vocals.wav"}


def nodes_of(graph: dict[str, Any], class_type: str) -> list[tuple[str, dict[str, Any]]]:
    return [(i, n["inputs"]) for i, n in graph.items() if n["class_type"] == class_type]


def source(graph: dict[str, Any], link: list[Any]) -> str:
    return str(graph[link[0]]["class_type"])


@pytest.mark.parametrize("name", presets_of("s2v"))
def test_each_s2v_preset_builds_a_graph_the_contract_server_accepts(name: str) -> None:
    graph = build_s2v(dataclasses.replace(PARAMS, preset=name))

    result = validate_graph(graph, contract_object_info(), input_files=INPUT_FILES)

    assert result.ok
    assert result.problems == ()
    assert [graph[n]["class_type"] for n in result.outputs_to_execute] == ["SaveVideo"]


def test_default_s2v_preset_uses_the_s2v_model_and_audio_encoder() -> None:
    graph = build_s2v(PARAMS)
    assert DEFAULT_PRESET["s2v"] == PARAMS.preset
    ((_, unet),) = nodes_of(graph, "UNETLoader")
    ((_, encoder),) = nodes_of(graph, "AudioEncoderLoader")
    assert unet["unet_name"] == "wan2.2_s2v_14B_fp8_scaled.safetensors"
    assert encoder["audio_encoder_name"] == "wav2vec2_large_english_fp16.safetensors"


def test_each_chunk_extends_every_chunk_before_it() -> None:
    graph = build_s2v(PARAMS)

    ((first_id, first),) = nodes_of(graph, "WanSoundImageToVideo")
    extends = nodes_of(graph, "WanSoundImageToVideoExtend")
    samplers = nodes_of(graph, "KSampler")

    assert len(extends) == PARAMS.chunks - 1
    assert len(samplers) == PARAMS.chunks
    assert {n["length"] for _, n in [(first_id, first), *extends]} == {PARAMS.chunk_length}
    # Chunk 2 continues chunk 1's sampled latent; chunk 3 the concatenation of both.
    assert source(graph, extends[0][1]["video_latent"]) == "KSampler"
    assert source(graph, extends[1][1]["video_latent"]) == "LatentConcat"
    for _, extend in extends:
        assert extend["audio_encoder_output"] == first["audio_encoder_output"]
        assert extend["ref_image"] == first["ref_image"]
    assert len({s["seed"] for _, s in samplers}) == PARAMS.chunks
    ((_, decode),) = nodes_of(graph, "VAEDecode")
    concat = graph[decode["samples"][0]]
    assert concat["class_type"] == "LatentConcat"
    assert concat["inputs"]["dim"] == "t"


def test_video_carries_the_driving_audio_at_16_fps() -> None:
    graph = build_s2v(PARAMS)
    ((_, video),) = nodes_of(graph, "CreateVideo")
    ((audio_id, _),) = nodes_of(graph, "LoadAudio")
    assert video["audio"] == [audio_id, 0]
    assert video["fps"] == 16.0
    ((_, save),) = nodes_of(graph, "SaveVideo")
    assert (save["format"], save["codec"]) == ("mp4", "h264")


@pytest.mark.parametrize(("chunk_length", "chunks"), [(77, 1), (77, 3), (9, 2), (1, 4)])
def test_output_frames_are_what_the_frame_plan_expects(chunk_length: int, chunks: int) -> None:
    assert s2v_output_frames(chunk_length, chunks) == s2v_total_frames(chunk_length, chunks)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fps": 25.0}, "fps must be 16"),
        ({"chunk_length": 76}, "chunk_length must be 4n"),
        ({"chunks": 0}, "chunks must be >= 1"),
        ({"width": 650}, "width must be a positive multiple of 16"),
        ({"audio_name": ""}, "audio_name must not be empty"),
        ({"preset": "wan22-i2v-fp8"}, "is for 'i2v', not s2v"),
    ],
)
def test_bad_parameters_are_refused_before_any_graph(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_s2v(dataclasses.replace(PARAMS, **change))


def test_a_worker_without_the_s2v_model_refuses_naming_the_loader() -> None:
    object_info = copy.deepcopy(contract_object_info())
    object_info["UNETLoader"]["input"]["required"]["unet_name"][0].remove(
        "wan2.2_s2v_14B_fp8_scaled.safetensors"
    )
    graph = build_s2v(PARAMS)
    ((loader, _),) = nodes_of(graph, "UNETLoader")

    result = validate_graph(graph, object_info, input_files=INPUT_FILES)

    assert not result.ok
    with pytest.raises(GraphError, match=rf"node {loader} \(UNETLoader\) input 'unet_name'"):
        result.raise_for_problems()
