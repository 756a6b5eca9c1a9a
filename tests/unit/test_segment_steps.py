"""What a segment's prompt is doing, its steps and ETA (pipeline.comfy.steps, .doing and
watch.NodeTrail), replayed from the frames a real ComfyUI 0.33.0 sent
(tests/data/comfyui_real_ws)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.comfy.doing import node_doing
from pipeline.comfy.messages import parse_text
from pipeline.comfy.steps import SegmentSteps, graph_steps
from pipeline.comfy.watch import NodeTrail, Progress, Queued
from pipeline.domain.contracts import SegmentProgress

REAL = Path(__file__).parents[1] / "data" / "comfyui_real_ws"


@dataclass(frozen=True)
class Seen:
    t: float
    progress: Progress
    report: SegmentProgress


def graph(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REAL / f"{name}.graph.json").read_text())
    return loaded


def frames(name: str) -> list[dict[str, Any]]:
    lines = (REAL / f"{name}.ws.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def replay(name: str) -> list[Seen]:
    """Every frame through parse_text → NodeTrail → SegmentSteps, on the captured clock,
    the step count planned from the graph as the GPU activity plans it."""
    rows = frames(name)
    prompt_id = next(r["data"]["prompt_id"] for r in rows if r["type"] == "execution_start")
    trail = NodeTrail(prompt_id, graph(name))
    steps = SegmentSteps(segment=0, steps_hint=graph_steps(graph(name)) or 0)
    seen: list[Seen] = []
    for row in rows:
        progress = trail.feed(parse_text(json.dumps({"type": row["type"], "data": row["data"]})))
        if progress is not None:
            seen.append(Seen(row["t"], progress, steps.update(progress, now=row["t"])))
    assert trail.finished
    return seen


def sampler_frames(name: str) -> dict[str, list[tuple[float, float]]]:
    """Per sampler node: (t, value) of each ``progress`` frame, as captured."""
    nodes = graph(name)
    found: dict[str, list[tuple[float, float]]] = {}
    for row in frames(name):
        if row["type"] == "progress" and "Sampler" in nodes[row["data"]["node"]]["class_type"]:
            found.setdefault(row["data"]["node"], []).append((row["t"], row["data"]["value"]))
    return found


def test_the_silent_text_encodes_read_as_encoding_the_prompt() -> None:
    seen = replay("i2v_seg0")
    gaps = [(a, b.t - a.t) for a, b in itertools.pairwise(seen)]
    long_silences = [(a.progress.class_type, a.report.doing) for a, gap in gaps if gap > 30]
    # The capture's two CPU encodes, 71.5 s and 60.6 s without a frame.
    assert long_silences == [("CLIPTextEncode", "encoding prompt")] * 2


@pytest.mark.parametrize(
    ("name", "loaders"),
    [
        ("i2v_seg0", {"VAELoader", "CLIPLoader", "UNETLoader", "LoraLoaderModelOnly"}),
        ("s2v_2chunks", {"AudioEncoderLoader", "UNETLoader", "LoraLoaderModelOnly"}),
        ("infinitetalk_w1", set()),  # Every loader's output was cached from window 0.
    ],
)
def test_every_node_of_a_real_run_is_named_by_its_class_type(name: str, loaders: set[str]) -> None:
    nodes = graph(name)
    words: dict[str, set[str]] = {}
    for s in replay(name):
        if s.progress.value == 0:  # The ``executing`` of the node.
            words.setdefault(nodes[s.progress.node]["class_type"], set()).add(s.report.doing)
    by_class = {k: sorted(v) for k, v in words.items()}
    assert {k for k in by_class if "Loader" in k} == loaders
    assert all(by_class[k] == ["loading models"] for k in loaders)
    assert by_class["VAEDecode"] == ["decoding"]
    assert by_class["SaveVideo"] == ["saving"]
    samplers = {k for k in by_class if k.endswith(("KSampler", "KSamplerAdvanced", "Advanced"))}
    assert all(w.startswith("sampling step ") for k in samplers for w in by_class[k])
    others = set(by_class) - loaders - samplers - {"VAEDecode", "SaveVideo", "CLIPTextEncode"}
    for s in replay(name):
        if s.progress.class_type in others and s.progress.value == 0:
            expected = f"running {s.progress.class_type} (node {s.progress.node})"
            assert s.report.doing == expected


def test_two_experts_of_two_steps_count_four_and_time_the_steps_from_progress_alone() -> None:
    seen = replay("i2v_seg0")
    experts = sampler_frames("i2v_seg0")
    assert [len(v) for v in experts.values()] == [2, 2]  # 1/2 and 2/2 each.
    sampling = [s.report.doing for s in seen if s.progress.class_type == "KSamplerAdvanced"]
    assert sampling == [f"sampling step {n}/4" for n in (0, 1, 2, 2, 3, 4)]

    first_step = next(s for s in seen if s.progress.value == 1)
    assert first_step.report.eta_s is None  # One message of a bar says nothing of its pace.
    (a_at, a_1), (a_end, a_2) = experts["13"]
    (b_at, b_1), (b_end, b_2) = experts["14"]
    pace = ((a_end - a_at) + (b_end - b_at)) / ((a_2 - a_1) + (b_2 - b_1))
    last = seen[-1].report
    assert last.seconds_per_step == round(pace, 3)
    assert (last.step, last.steps, last.eta_s) == (4, 4, 0.0)


def test_a_four_step_sampler_that_sent_two_messages_is_timed_over_its_three_steps() -> None:
    seen = replay("s2v_2chunks")
    chunks = sampler_frames("s2v_2chunks")
    assert [[v for _, v in bar] for bar in chunks.values()] == [[1, 4], [1, 4]]  # Throttled.
    (first_at, _), (end_at, _) = chunks["13"]
    after_chunk_one = next(s.report for s in seen if s.t == end_at)
    pace = round((end_at - first_at) / 3, 3)
    assert after_chunk_one.seconds_per_step == pace
    assert (after_chunk_one.step, after_chunk_one.steps) == (4, 8)  # Two chunks of 4.
    assert after_chunk_one.eta_s == round(4 * pace, 1)
    before = [s.report.eta_s for s in seen if s.t < end_at]
    assert set(before) == {None}  # Nothing shown rather than a guess.


def test_a_bar_that_skipped_steps_weighs_the_steps_it_covered() -> None:
    seen = replay("infinitetalk_w1")
    (bar,) = sampler_frames("infinitetalk_w1").values()
    assert [v for _, v in bar] == [1, 5, 6]
    (t1, _), (t5, _), _ = bar
    at_five = next(s.report for s in seen if s.t == t5 and s.progress.value == 5)
    assert at_five.seconds_per_step == round((t5 - t1) / 4, 3)
    assert at_five.eta_s == round(round((t5 - t1) / 4, 3), 1)
    assert seen[-1].report.step == 6


@pytest.mark.parametrize(
    ("name", "planned"), [("i2v_seg0", 4), ("s2v_2chunks", 8), ("infinitetalk_w1", 6)]
)
def test_the_planned_steps_are_what_the_graphs_samplers_are_told_to_run(
    name: str, planned: int
) -> None:
    # i2v: two experts of steps 0-2 and 2-4 of 4; s2v: two chunks of 4; InfiniteTalk: 6.
    assert graph_steps(graph(name)) == planned
    assert replay(name)[-1].report.steps == planned


def test_a_sampler_whose_count_is_not_a_literal_plans_nothing() -> None:
    linked = {"1": {"class_type": "KSampler", "inputs": {"steps": ["9", 0]}}}
    assert graph_steps(linked) is None
    assert graph_steps({"1": {"class_type": "VAEDecode", "inputs": {}}}) is None


def progress(node: str, class_type: str, value: float, maximum: float) -> Progress:
    return Progress(node, class_type, value, maximum, nodes_done=0, nodes_total=9)


def test_a_slow_model_load_before_the_first_step_is_not_taken_for_the_pace() -> None:
    steps = SegmentSteps(segment=1, steps_hint=4, worker="gpu-a")
    steps.update(progress("7", "KSampler", 0.0, 1.0), now=0.0)  # executing
    loaded = steps.update(progress("7", "KSampler", 1, 4), now=60.0)  # 59 s of load, 1 step
    done = steps.update(progress("7", "KSampler", 4, 4), now=63.0)  # throttled: 4/4 next

    assert loaded.eta_s is None  # Not 3 x 60 s.
    assert (done.seconds_per_step, done.eta_s) == (1.0, 0.0)
    assert (done.segment, done.worker, done.doing) == (1, "gpu-a", "sampling step 4/4")


def test_a_windowed_sampler_raises_the_total_and_later_nodes_keep_it() -> None:
    steps = SegmentSteps(segment=0, steps_hint=4)
    steps.update(progress("3", "WanVideoSampler", 6, 12), now=1.0)
    report = steps.update(progress("9", "VAEDecode", 0.0, 1.0), now=2.0)

    assert (report.node, report.step, report.steps) == ("VAEDecode", 6, 12)
    assert report.doing == "decoding"
    assert report.eta_s is None


def test_a_queued_prompt_says_its_place_until_a_node_starts() -> None:
    steps = SegmentSteps(segment=2, steps_hint=6)
    assert steps.report().doing == "submitted"
    assert steps.update(Queued(3), now=1.0).doing == "queued (position 3)"
    assert steps.update(Queued(1), now=2.0).doing == "queued (position 1)"
    started = steps.update(progress("2", "UnetLoaderGGUF", 0.0, 1.0), now=3.0)
    assert started.doing == "loading models"
    assert (started.step, started.steps, started.eta_s) == (0, 6, None)


@pytest.mark.parametrize(
    ("class_type", "words"),
    [
        ("UnetLoaderGGUF", "loading models"),
        ("ModelPatchLoader", "loading models"),
        ("CLIPTextEncode", "encoding prompt"),
        ("SamplerCustomAdvanced", "sampling step 2/6"),
        ("VAEDecodeTiled", "decoding"),
        ("SaveAudio", "saving"),
        ("AudioEncoderEncode", "running AudioEncoderEncode (node 5)"),
        ("", "running an unknown node (node 5)"),
    ],
)
def test_class_types_in_words(class_type: str, words: str) -> None:
    assert node_doing(class_type, "5", step=2, steps=6) == words
