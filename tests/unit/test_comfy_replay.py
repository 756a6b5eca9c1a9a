"""tests.comfy_replay: a real transcript matches itself, and every kind of difference the
replay test must catch is caught."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.comfy.capture.record import binary_frame
from tests.comfy_replay import differences, normalise_frames

TRANSCRIPTS = (
    Path(__file__).parents[2] / "pipeline" / "standins" / "comfy_sim" / "contract" / "transcripts"
)


def recorded(name: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    graph = json.loads((TRANSCRIPTS / f"{name}.graph.json").read_text())
    lines = (TRANSCRIPTS / f"{name}.ws.jsonl").read_text().splitlines()
    history = json.loads((TRANSCRIPTS / f"{name}.history.json").read_text())
    return graph, [json.loads(line) for line in lines], history


def index_of(frames: list[dict[str, Any]], kind: str, node: str | None = None) -> int:
    return next(
        i
        for i, f in enumerate(frames)
        if f["type"] == kind and (node is None or f["data"].get("node") == node)
    )


@pytest.mark.parametrize(
    "name", sorted(p.name.split(".")[0] for p in TRANSCRIPTS.glob("*.ws.jsonl"))
)
def test_a_transcript_matches_itself_with_other_ids_times_and_counters(name: str) -> None:
    graph, frames, history = recorded(name)
    other = json.loads(json.dumps(frames).replace(history["prompt"][1], "another-id"))
    for frame in other:
        frame["t"] = 0.0
        if isinstance(frame["data"], dict) and "timestamp" in frame["data"]:
            frame["data"]["timestamp"] = 1
    other_history = json.loads(
        json.dumps(history)
        .replace(history["prompt"][1], "another-id")
        .replace("_00002_", "_00007_")
    )

    assert differences(frames, history, other, other_history, graph) == []


def test_a_throttled_step_between_the_first_and_the_last_is_allowed() -> None:
    """A run that reported one step more (its timing let the throttle through) matches."""
    graph, frames, history = recorded("infinitetalk_w1")
    first = index_of(frames, "progress")
    state, report = copy.deepcopy(frames[first - 1]), copy.deepcopy(frames[first])
    node, top = report["data"]["node"], report["data"]["max"]
    assert report["data"]["value"] + 1 < top, "the recording's first step is its last"
    middle = report["data"]["value"] + 1
    report["data"]["value"] = state["data"]["nodes"][node]["value"] = middle
    more = [*frames[: first + 1], state, report, *frames[first + 1 :]]

    assert differences(frames, history, more, history, graph) == []


def mutations() -> list[tuple[str, str]]:
    return [
        ("swap two nodes' order", "i2v_seg0"),
        ("drop the output's executed", "i2v_seg0"),
        ("another error text", "edge_trim_past_end"),
        ("another exception type", "edge_trim_past_end"),
        ("another subfolder", "s2v_2chunks"),
        ("no animated flag", "s2v_2chunks"),
        ("a missing last step", "infinitetalk_w0"),
        ("another cached set", "infinitetalk_w1"),
        ("a history without meta", "i2v_seg1"),
        ("a status message more", "edge_i2v_length80"),
    ]


@pytest.mark.parametrize(("mutation", "name"), mutations())
def test_every_other_difference_is_reported(mutation: str, name: str) -> None:
    graph, frames, history = recorded(name)
    sim_frames, sim_history = copy.deepcopy(frames), copy.deepcopy(history)
    if mutation == "swap two nodes' order":
        first = index_of(sim_frames, "executing", "3")
        second = index_of(sim_frames, "executing", "1")
        sim_frames[first], sim_frames[second] = sim_frames[second], sim_frames[first]
    elif mutation == "drop the output's executed":
        del sim_frames[index_of(sim_frames, "executed")]
    elif mutation in ("another error text", "another exception type"):
        error = sim_frames[index_of(sim_frames, "execution_error")]["data"]
        key = "exception_message" if mutation == "another error text" else "exception_type"
        error[key] = "AudioTrim: Start time must be less than end time."
    elif mutation == "another subfolder":
        for output in sim_history["outputs"].values():
            output["images"][0]["subfolder"] = ""
    elif mutation == "no animated flag":
        for output in sim_history["outputs"].values():
            del output["animated"]
    elif mutation == "a missing last step":
        last = max(i for i, f in enumerate(sim_frames) if f["type"] == "progress")
        del sim_frames[last - 1 : last + 1]
    elif mutation == "another cached set":
        sim_frames[index_of(sim_frames, "execution_cached")]["data"]["nodes"].pop()
    elif mutation == "a history without meta":
        sim_history["meta"] = {}
    else:
        sim_frames.insert(
            -1, {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}}}
        )

    assert differences(frames, history, sim_frames, sim_history, graph) != []


def test_steps_that_do_not_rise_are_refused() -> None:
    _, frames, _ = recorded("infinitetalk_w1")
    first = index_of(frames, "progress")
    backwards = [*frames[: first + 1], *frames[first - 1 : first + 1], *frames[first + 1 :]]
    backwards[first + 1] = copy.deepcopy(backwards[first + 1])
    backwards[first + 2] = copy.deepcopy(backwards[first + 2])

    with pytest.raises(ValueError, match="do not rise"):
        normalise_frames(backwards)


def test_a_live_binary_frame_reads_as_a_capture_stored_it() -> None:
    preview = (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\xff\xd8jpeg"
    text = (4).to_bytes(4, "big") + b"meta"

    live = normalise_frames([{"type": "binary", "data": preview}])
    stored = normalise_frames([{"type": "binary", "data": binary_frame(preview)}])

    assert live == stored == [("binary", 1)]
    assert normalise_frames([{"type": "binary", "data": text}]) == [("binary", 4)]


def test_a_server_installed_elsewhere_raises_at_the_same_place() -> None:
    graph, frames, history = recorded("edge_trim_past_end")
    moved = json.loads(json.dumps(frames).replace("/work/comfyui/", "/opt/ComfyUI/"))
    elsewhere = json.loads(json.dumps(frames).replace("nodes_audio.py", "nodes_video.py"))

    assert moved != frames
    assert differences(frames, history, moved, history, graph) == []
    assert differences(frames, history, elsewhere, history, graph) != []
