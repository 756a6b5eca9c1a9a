"""InfiniteTalk on ComfyUI's core nodes: one window per prompt, chained on the previous one."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from pipeline.domain.errors import GraphError
from pipeline.domain.frames.plan import plan_infinitetalk
from pipeline.domain.manifest import Kind
from pipeline.standins.comfy_sim.object_info import contract_object_info
from workflows_comfy.build import SegmentGraphRequest, build_graph, handoff_frames
from workflows_comfy.graph import handoff_node
from workflows_comfy.infinitetalk import InfiniteTalkParams, build_infinitetalk
from workflows_comfy.presets import presets_of
from workflows_comfy.validate import validate_graph

FIRST = InfiniteTalkParams(
    image_name="portrait.png",
    audio_name="vocals.wav",
    prompt="A woman is talking",
    width=640,
    height=640,
    seed=3,
)
THIRD = dataclasses.replace(FIRST, start_frame=144, previous_video_name="window_1.mp4")
HANDED_OVER = dataclasses.replace(
    FIRST, start_frame=144, previous_frames_name="window_1_motion.png", previous_frames=9
)
INPUT_FILES = {"portrait.png", "vocals.wav", "window_1.mp4", "window_1_motion.png"}


def node(graph: dict[str, Any], class_type: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(i, n["inputs"]) for i, n in graph.items() if n["class_type"] == class_type]
    return found


def source(graph: dict[str, Any], link: list[Any]) -> str:
    return str(graph[link[0]]["class_type"])


def window_audio(graph: dict[str, Any]) -> dict[str, Any]:
    """The trimmed audio the window's features are encoded from."""
    _, encode = node(graph, "AudioEncoderEncode")
    trim: dict[str, Any] = graph[encode["audio"][0]]["inputs"]
    return trim


def test_the_window_video_plays_its_own_stretch_of_the_audio() -> None:
    graph = build_infinitetalk(THIRD)
    _, video = node(graph, "CreateVideo")
    sound = graph[video["audio"][0]]["inputs"]
    assert sound["start_index"] == pytest.approx(144 / 25)
    assert sound["duration"] == pytest.approx(81 / 25)
    assert video["fps"] == 25.0


@pytest.mark.parametrize("name", presets_of("infinitetalk"))
@pytest.mark.parametrize(
    "window", [FIRST, THIRD, HANDED_OVER], ids=["first", "continuing", "handed-over"]
)
def test_each_window_of_each_preset_is_a_graph_the_contract_accepts(
    name: str, window: InfiniteTalkParams
) -> None:
    graph = build_infinitetalk(dataclasses.replace(window, preset=name))

    result = validate_graph(graph, contract_object_info(), input_files=INPUT_FILES)

    assert result.ok
    assert result.problems == ()
    assert [graph[n]["class_type"] for n in result.outputs_to_execute] == ["SaveVideo"]


def test_the_first_window_starts_from_the_portrait_alone() -> None:
    graph = build_infinitetalk(FIRST)
    _, talk = node(graph, "WanInfiniteTalkToVideo")
    trim = window_audio(graph)

    assert "previous_frames" not in talk
    assert source(graph, talk["start_image"]) == "LoadImage"
    assert (trim["start_index"], trim["duration"]) == (0.0, 81 / 25)
    assert (talk["length"], talk["motion_frame_count"], talk["mode"]) == (81, 9, "single_speaker")


def test_a_later_window_continues_the_previous_windows_frames_and_audio() -> None:
    graph = build_infinitetalk(THIRD)
    _, talk = node(graph, "WanInfiniteTalkToVideo")
    trim = window_audio(graph)
    _, components = node(graph, "GetVideoComponents")
    _, previous = node(graph, "LoadVideo")

    assert source(graph, talk["previous_frames"]) == "GetVideoComponents"
    assert talk["previous_frames"][1] == 0  # the images output
    assert source(graph, components["video"]) == "LoadVideo"
    assert previous["file"] == "window_1.mp4"
    # The node reads features from frame 81 - 9 = 72 of the audio it is given, so the audio
    # starts at the previous window's first frame (72) and covers this window to frame 225.
    assert trim["start_index"] == pytest.approx(72 / 25)
    assert trim["duration"] == pytest.approx((225 - 72) / 25)
    assert source(graph, talk["start_image"]) == "LoadImage"


def test_sampling_follows_the_template_and_the_presets_defaults() -> None:
    graph = build_infinitetalk(FIRST)
    _, scheduler = node(graph, "BasicScheduler")
    _, guider = node(graph, "CFGGuider")
    _, sampler = node(graph, "KSamplerSelect")
    _, sampled = node(graph, "SamplerCustomAdvanced")
    _, negative = node(graph, "ConditioningZeroOut")

    assert (scheduler["scheduler"], scheduler["steps"], scheduler["denoise"]) == ("normal", 6, 1.0)
    assert (sampler["sampler_name"], guider["cfg"]) == ("euler", 1.0)
    assert source(graph, sampled["latent_image"]) == "WanInfiniteTalkToVideo"
    assert source(graph, negative["conditioning"]) == "CLIPTextEncode"
    assert not [n for n in graph.values() if n["class_type"] == "ModelSamplingSD3"]


def test_a_manifest_negative_prompt_replaces_the_zeroed_one() -> None:
    graph = build_infinitetalk(dataclasses.replace(FIRST, negative_prompt="blurry", cfg=2.0))
    _, talk = node(graph, "WanInfiniteTalkToVideo")
    assert graph[talk["negative"][0]]["inputs"]["text"] == "blurry"
    assert node(graph, "CFGGuider")[1]["cfg"] == 2.0


def test_the_models_are_the_templates_core_files() -> None:
    graph = build_infinitetalk(FIRST)
    assert node(graph, "UNETLoader")[1]["unet_name"] == (
        "Wan2_1-I2V-14B-480p_fp8_e4m3fn_scaled_KJ.safetensors"
    )
    assert node(graph, "ModelPatchLoader")[1]["name"] == (
        "wan2.1_infiniteTalk_multi_fp16.safetensors"
    )
    assert node(graph, "AudioEncoderLoader")[1]["audio_encoder_name"] == (
        "wav2vec2-chinese-base_fp16.safetensors"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_frame": 72}, "previous_video_name is missing"),
        ({"start_frame": 40, "previous_video_name": "w.mp4"}, "cannot continue at frame 40"),
        (
            {"start_frame": 72, "previous_video_name": "w.mp4", "previous_frames_name": "w.png"},
            "not both",
        ),
        ({"handoff_frames": 82}, "handoff_frames must be in 0..81"),
        ({"length": 80}, r"length must be 4n\+1"),
        ({"motion_frames": 34}, "motion_frames must be in 1..33"),
        ({"width": 650}, "width must be a positive multiple of 16"),
        ({"steps": 0}, "steps must be in 1..10000"),
        ({"audio_name": ""}, "audio_name must not be empty"),
    ],
)
def test_impossible_windows_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_infinitetalk(dataclasses.replace(FIRST, **change))


def test_every_window_of_a_plan_is_one_segment_the_plan_can_stitch() -> None:
    plan = plan_infinitetalk(7.0, width=640, height=640)
    assert plan.windows is not None
    assert plan.continuation == "previous_segment"
    assert [(s.length, s.drop_leading) for s in plan.segments] == [(81, 0), (81, 9), (81, 9)]
    starts = []
    for segment in plan.segments:
        graph = build_graph(
            Kind.INFINITETALK,
            SegmentGraphRequest(
                image_name="portrait.png",
                audio_name="vocals.wav",
                prompt="",
                width=640,
                height=640,
                fps=25.0,
                length=segment.length,
                seed=1,
                preset="infinitetalk-fp8",
                filename_prefix="video/t",
                windows=plan.windows,
                segment_index=segment.index,
                previous_video_name=None if segment.index == 0 else "window.mp4",
            ),
        )
        trim = window_audio(graph)
        starts.append(round(trim["start_index"] * 25))
    assert starts == [0, 0, 72]
    assert plan.total_frames == 81 + 72 + 72


def test_a_server_without_the_core_infinitetalk_node_is_named() -> None:
    object_info = copy.deepcopy(contract_object_info())
    del object_info["WanInfiniteTalkToVideo"]
    result = validate_graph(build_infinitetalk(THIRD), object_info)
    with pytest.raises(GraphError, match="'WanInfiniteTalkToVideo' is not a node the server has"):
        result.raise_for_problems()


def test_a_window_continues_the_motion_frames_the_previous_window_saved() -> None:
    graph = build_infinitetalk(HANDED_OVER)
    _, talk = node(graph, "WanInfiniteTalkToVideo")
    trim = window_audio(graph)
    loaders = {n["inputs"]["image"]: i for i, n in graph.items() if n["class_type"] == "LoadImage"}

    assert talk["previous_frames"] == [loaders["window_1_motion.png"], 0]
    assert source(graph, talk["start_image"]) == "LoadImage"
    assert not [n for n in graph.values() if n["class_type"] in ("LoadVideo", "GetVideoComponents")]
    # Nine previous frames: the node's feature offset is 9 - 9 = 0, so the audio starts at
    # the window's own first frame and covers its 81 frames.
    assert trim["start_index"] == pytest.approx(144 / 25)
    assert trim["duration"] == pytest.approx(81 / 25)


def test_a_window_with_a_successor_saves_its_last_nine_decoded_frames() -> None:
    graph = build_infinitetalk(dataclasses.replace(HANDED_OVER, handoff_frames=9))
    saver_id = handoff_node(graph)
    assert saver_id is not None
    picked = graph[graph[saver_id]["inputs"]["images"][0]]

    assert picked["class_type"] == "ImageFromBatch"
    assert (picked["inputs"]["batch_index"], picked["inputs"]["length"]) == (72, 9)
    assert source(graph, picked["inputs"]["image"]) == "VAEDecode"
    assert handoff_node(build_infinitetalk(HANDED_OVER)) is None


def test_every_window_but_the_last_hands_its_motion_frames_to_the_next() -> None:
    plan = plan_infinitetalk(7.0, width=640, height=640)
    assert plan.windows is not None
    assert [handoff_frames(plan, s.index, "infinitetalk-fp8") for s in plan.segments] == [9, 9, 0]
    starts = []
    for segment in plan.segments:
        graph = build_graph(
            Kind.INFINITETALK,
            SegmentGraphRequest(
                image_name="portrait.png",
                audio_name="vocals.wav",
                prompt="",
                width=640,
                height=640,
                fps=25.0,
                length=segment.length,
                seed=1,
                preset="infinitetalk-fp8",
                filename_prefix="video/t",
                windows=plan.windows,
                segment_index=segment.index,
                previous_frames_name=None if segment.index == 0 else "motion.png",
                handoff_frames=handoff_frames(plan, segment.index, "infinitetalk-fp8"),
            ),
        )
        starts.append(round(window_audio(graph)["start_index"] * 25))
    # Each window's audio starts at its own first frame, where the plan puts it.
    assert starts == list(plan.windows.frame_offsets) == [0, 72, 144]
