"""build_graph: one dispatch from a planned segment to its kind's graph; servable presets."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from pipeline.domain.errors import GraphError, ManifestError
from pipeline.domain.frames.plan import FramePlan, WindowPlan, plan_i2v, plan_infinitetalk, plan_s2v
from pipeline.domain.manifest import Kind
from pipeline.standins.comfy_sim.object_info import contract_object_info
from workflows_comfy.build import SegmentGraphRequest, build_graph, handoff_frames
from workflows_comfy.presets import DEFAULT_PRESET, PRESETS
from workflows_comfy.servable import servable
from workflows_comfy.validate import validate_graph

WIDTH, HEIGHT = 256, 144
PLANS: dict[Kind, FramePlan] = {
    Kind.I2V: plan_i2v(extensions=0, fps=16, width=WIDTH, height=HEIGHT),
    Kind.S2V: plan_s2v(11.3, width=WIDTH, height=HEIGHT),
    Kind.INFINITETALK: plan_infinitetalk(7.0, width=WIDTH, height=HEIGHT),
}


def request_for(kind: Kind, plan: FramePlan) -> SegmentGraphRequest:
    return SegmentGraphRequest(
        image_name="start.png",
        audio_name=None if kind is Kind.I2V else "vocals.wav",
        prompt="someone speaks",
        fps=float(plan.fps),
        length=plan.segments[0].length,
        windows=plan.windows,
        seed=11,
        preset=DEFAULT_PRESET[kind.value],
        filename_prefix="video/test",
        width=WIDTH,
        height=HEIGHT,
    )


def output_class(graph: dict[str, Any]) -> str:
    result = validate_graph(graph, contract_object_info(), {"start.png", "vocals.wav"})
    assert result.ok, result.problems
    (output,) = result.outputs_to_execute
    return str(graph[output]["class_type"])


@pytest.mark.parametrize(
    ("kind", "output"),
    [(Kind.I2V, "SaveVideo"), (Kind.S2V, "SaveVideo"), (Kind.INFINITETALK, "SaveVideo")],
)
def test_each_kind_builds_a_valid_graph_from_its_plan(kind: Kind, output: str) -> None:
    graph = build_graph(kind, request_for(kind, PLANS[kind]))
    assert output_class(graph) == output


def test_s2v_chunks_come_from_the_plans_windows() -> None:
    plan = PLANS[Kind.S2V]
    assert plan.windows is not None
    graph = build_graph(Kind.S2V, request_for(Kind.S2V, plan))
    extends = [n for n in graph.values() if n["class_type"] == "WanSoundImageToVideoExtend"]
    assert len(extends) == plan.windows.count - 1


def test_infinitetalk_windows_come_from_the_plan() -> None:
    plan = PLANS[Kind.INFINITETALK]
    request = dataclasses.replace(
        request_for(Kind.INFINITETALK, plan), segment_index=2, previous_video_name="w.mp4"
    )
    graph = build_graph(Kind.INFINITETALK, request)
    (talk,) = [n for n in graph.values() if n["class_type"] == "WanInfiniteTalkToVideo"]
    assert talk["_meta"]["title"] == "Window from frame 144"
    assert talk["inputs"]["length"] == plan.segments[2].length == 81


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        (Kind.S2V, {"length": 200}, "renders 237 frames but the plan gave the segment 200"),
        (Kind.S2V, {"audio_name": None}, "s2v needs the driving audio"),
        (Kind.INFINITETALK, {"windows": None}, "infinitetalk needs the plan's windows"),
        (Kind.INFINITETALK, {"segment_index": 3}, "segment 3 is not one of the plan's 3"),
        (Kind.INFINITETALK, {"segment_index": 1}, "previous_video_name is missing"),
        (
            Kind.S2V,
            {"windows": WindowPlan(length=77, overlap=4, count=3)},
            "S2V chunks do not overlap",
        ),
        (Kind.I2V, {"length": 80}, "length must be 4n\\+1"),
    ],
)
def test_requests_the_graph_cannot_honour_are_graph_errors(
    kind: Kind, change: dict[str, Any], message: str
) -> None:
    request = dataclasses.replace(request_for(kind, PLANS[kind]), **change)
    with pytest.raises(GraphError, match=message) as caught:
        build_graph(kind, request)
    assert not caught.value.retryable


def test_unknown_presets_stay_manifest_errors() -> None:
    request = dataclasses.replace(request_for(Kind.I2V, PLANS[Kind.I2V]), preset="wan99")
    with pytest.raises(ManifestError, match="unknown model preset 'wan99'"):
        build_graph(Kind.I2V, request)


def test_the_contract_server_serves_every_preset() -> None:
    found = servable(contract_object_info())
    assert found == {
        kind: sorted(name for name, p in PRESETS.items() if p.kind == kind)
        for kind in ("i2v", "s2v", "infinitetalk")
    }


def test_a_server_without_a_models_file_does_not_serve_its_preset() -> None:
    object_info = copy.deepcopy(contract_object_info())
    object_info["UnetLoaderGGUF"]["input"]["required"]["unet_name"][0] = []
    del object_info["WanSoundImageToVideoExtend"]

    found = servable(object_info)

    assert found["i2v"] == ["wan22-i2v-fp8"]
    assert "s2v" not in found
    assert found["infinitetalk"] == ["infinitetalk-fp8"]


def test_each_segment_with_a_successor_hands_over_what_the_next_graph_loads() -> None:
    extended = plan_i2v(extensions=2, fps=16, width=WIDTH, height=HEIGHT)
    talk, s2v = PLANS[Kind.INFINITETALK], PLANS[Kind.S2V]
    assert talk.windows is not None

    def counts(plan: FramePlan, kind: Kind) -> list[int]:
        preset = DEFAULT_PRESET[kind.value]
        return [handoff_frames(plan, s.index, preset) for s in plan.segments]

    assert counts(extended, Kind.I2V) == [1, 1, 0]
    assert counts(talk, Kind.INFINITETALK) == [talk.windows.motion_frames] * 2 + [0]
    assert counts(s2v, Kind.S2V) == [0]


def test_a_long_s2v_hands_its_motion_frames_to_the_next_segment() -> None:
    long = plan_s2v(40.0, width=WIDTH, height=HEIGHT)  # 9 chunks: 3 segments of 3
    preset = DEFAULT_PRESET["s2v"]
    assert [handoff_frames(long, s.index, preset) for s in long.segments] == [73, 73, 0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"handoff_frames": 1}, "handoff_frames must be 0 or 73"),
        ({"segment_index": 1}, "first_chunk 3, previous_frames_name None"),
        ({"segment_index": 3}, "segment 3 is not one of the plan's 3 segment"),
        ({"previous_video_name": "s.mp4"}, "continues the previous segment's saved hand-off"),
    ],
)
def test_s2v_segments_the_plan_does_not_have_are_graph_errors(
    change: dict[str, Any], message: str
) -> None:
    long = plan_s2v(40.0, width=WIDTH, height=HEIGHT)
    request = dataclasses.replace(request_for(Kind.S2V, long), **change)
    with pytest.raises(GraphError, match=message):
        build_graph(Kind.S2V, request)
