"""The Wan 2.2 S2V graph: chunked as ComfyUI's S2V nodes expect, valid on the contract server."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.comfy.capture.graphs import scenarios
from pipeline.domain.errors import GraphError
from pipeline.domain.frames.plan import FramePlan, plan_s2v
from pipeline.domain.frames.rules import S2V_CHUNKS_PER_PROMPT, s2v_total_frames
from pipeline.domain.manifest import Kind
from pipeline.standins.comfy_sim.object_info import contract_object_info
from workflows_comfy.build import SegmentGraphRequest, build_graph, handoff_frames
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


TEN_MINUTES_S = 9597 / 16
"""The issue's 10-minute drop: 120 chunks that one prompt of 373 nodes used to decode."""
CONTINUED = "previous.png"
TRANSCRIPTS = Path(__file__).parents[2] / "pipeline/standins/comfy_sim/contract/transcripts"


def segment_graphs(audio_s: float) -> tuple[FramePlan, list[dict[str, Any]]]:
    """The plan for ``audio_s`` of S2V and each segment's graph, as the GPU activity asks."""
    plan = plan_s2v(audio_s, width=832, height=480)
    preset = DEFAULT_PRESET["s2v"]
    graphs = [
        build_graph(
            Kind.S2V,
            SegmentGraphRequest(
                image_name="face.png",
                audio_name="vocals.wav",
                prompt="a woman sings",
                width=832,
                height=480,
                fps=16.0,
                length=segment.length,
                windows=plan.windows,
                segment_index=segment.index,
                previous_frames_name=CONTINUED if segment.index else None,
                handoff_frames=handoff_frames(plan, segment.index, preset),
                seed=7 + segment.index,
                preset=preset,
                filename_prefix=f"video/s2v_{segment.index:03d}",
            ),
        )
        for segment in plan.segments
    ]
    return plan, graphs


def titled(graph: dict[str, Any], title: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        n["inputs"] for n in graph.values() if n.get("_meta", {}).get("title") == title
    ]
    (inputs,) = found
    return inputs


def test_every_prompt_of_a_ten_minute_s2v_is_bounded_and_valid_on_the_contract_server() -> None:
    one_prompt = build_s2v(dataclasses.replace(PARAMS, chunks=120, width=832, height=480))
    plan, graphs = segment_graphs(TEN_MINUTES_S)
    _, twice_as_long = segment_graphs(2 * TEN_MINUTES_S)

    assert len(one_prompt) == 373
    assert len(graphs) == 40
    # Bounded by the segment: a clip twice as long has twice the prompts, none larger.
    assert max(len(g) for g in graphs) == max(len(g) for g in twice_as_long) == 30
    assert len(twice_as_long) == 80
    files = INPUT_FILES | {CONTINUED}
    for graph in graphs:
        result = validate_graph(graph, contract_object_info(), input_files=files)
        assert result.ok, result.problems
        assert len(nodes_of(graph, "KSampler")) <= S2V_CHUNKS_PER_PROMPT
    assert sum(len(nodes_of(g, "KSampler")) for g in graphs) == 120
    # A later prompt decodes its frames behind 73 motion frames: 313 at most, not 9,597.
    kept = [titled(g, "Segment frames") for g in graphs[1:]]
    assert [k["length"] for k in kept] == [s.length for s in plan.segments[1:]]
    assert max(k["batch_index"] + k["length"] for k in kept) == 73 + 240


def test_a_later_segment_continues_the_saved_frames_on_its_own_stretch_of_the_audio() -> None:
    plan, graphs = segment_graphs(20.0)  # 5 chunks: segments of 3 and 2
    first, second = graphs

    assert [s.length for s in plan.segments] == [237, 160]
    # Each hears its own chunks' audio: 5 s a chunk, the second from chunk 4 (15 s) on.
    heard = [titled(g, "Segment audio") for g in graphs]
    assert [(a["start_index"], a["duration"]) for a in heard] == [(0.0, 15.0), (15.0, 10.0)]
    ((_, encoded),) = nodes_of(second, "AudioEncoderEncode")
    assert source(second, encoded["audio"]) == "TrimAudioDuration"
    # Its file plays the clip's audio from its first frame, 237, for its 160 frames.
    assert titled(second, "Segment sound")["start_index"] == 237 / 16
    assert titled(second, "Segment sound")["duration"] == 160 / 16
    # ref_motion and the decode's context are the loaded frames, which the decode drops.
    ((loader, _),) = [(i, n) for i, n in nodes_of(second, "LoadImage") if n["image"] == CONTINUED]
    ((_, chunk),) = nodes_of(second, "WanSoundImageToVideo")
    ((_, encode),) = nodes_of(second, "VAEEncode")
    assert chunk["ref_motion"] == encode["pixels"] == [loader, 0]
    kept = titled(second, "Segment frames")
    assert (kept["batch_index"], kept["length"]) == (73, 160)
    # Only the first segment hands over: its last 73 decoded frames.
    assert [n["length"] for _, n in nodes_of(first, "ImageFromBatch")] == [73]
    assert nodes_of(first, "VAEEncode") == []
    assert nodes_of(second, "SaveImage") == []


def test_s2v_that_fits_one_prompt_is_the_graph_the_real_server_ran() -> None:
    (scenario,) = [s for s in scenarios() if s.name == "s2v_2chunks"]
    captured = json.loads((TRANSCRIPTS / "s2v_2chunks.graph.json").read_text())

    assert scenario.graph == captured
    assert {"TrimAudioDuration", "VAEEncode", "ImageFromBatch"}.isdisjoint(
        n["class_type"] for n in captured.values()
    )
