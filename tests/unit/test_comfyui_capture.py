"""The pure parts of ``pipeline comfyui capture``: which nodes it keeps, the graphs it
posts (and the capture-only tokenizer edit), and how it writes frames down."""

from __future__ import annotations

import io
import json
import wave
from typing import Any

import pytest
from PIL import Image

from pipeline.comfy.capture.graphs import (
    HEIGHT,
    SHORT_S,
    SPEECH_S,
    TOKENIZER_OPTIONS,
    WIDTH,
    rejected_graph,
    scenarios,
    with_length,
    with_tokenizer_options,
)
from pipeline.comfy.capture.nodes import graph_classes, keep_entries, preset_graphs
from pipeline.comfy.capture.record import Transcript, binary_frame
from pipeline.comfy.capture.run import portrait_png, selected_scenarios, tone_wav
from workflows_comfy.presets import PRESETS
from workflows_comfy.s2v import s2v_output_frames


def by_name() -> dict[str, Any]:
    return {s.name: s for s in scenarios()}


def inputs_of(graph: dict[str, Any], class_type: str, name: str) -> list[Any]:
    return [n["inputs"][name] for n in graph.values() if n["class_type"] == class_type]


def test_graph_classes_are_every_class_type_of_every_graph() -> None:
    graphs = [
        {"1": {"class_type": "LoadImage", "inputs": {}}, "2": {"class_type": "SaveVideo"}},
        {"7": {"class_type": "LoadImage", "inputs": {}}, "8": {"class_type": "VAELoader"}},
    ]

    assert graph_classes(graphs) == {"LoadImage", "SaveVideo", "VAELoader"}


def test_keep_entries_keeps_the_servers_order_and_entries_and_names_what_it_lacks() -> None:
    info = {"B": {"input": {"x": 1.0}}, "A": {"input": {}}, "C": {"output": ["VIDEO"]}}

    kept, missing = keep_entries(info, ["C", "B", "Z"])

    assert json.dumps(kept) == json.dumps({"B": info["B"], "C": info["C"]})
    assert missing == ["Z"]


def test_preset_graphs_load_every_file_of_every_preset() -> None:
    values = {
        value
        for graph in preset_graphs()
        for node in graph.values()
        for value in node["inputs"].values()
        if isinstance(value, str)
    }

    for name, chosen in PRESETS.items():
        assert set(chosen.files()) <= values, name
    assert "UnetLoaderGGUF" in graph_classes(preset_graphs())
    assert {"LoadVideo", "GetVideoComponents"} <= graph_classes(preset_graphs())


def test_tokenizer_options_sit_between_every_clip_loader_and_its_consumers() -> None:
    graph = by_name()["s2v_2chunks"].graph
    (loader,) = [i for i, n in graph.items() if n["class_type"] == "CLIPLoader"]

    edited = with_tokenizer_options(graph)

    (option,) = [i for i, n in edited.items() if n["class_type"] == TOKENIZER_OPTIONS]
    assert option not in graph
    assert edited[option]["inputs"] == {"clip": [loader, 0], "min_padding": 0, "min_length": 0}
    links = [v for n in edited.values() for v in n["inputs"].values() if v == [loader, 0]]
    assert links == [[loader, 0]]  # only the options node still reads the loader
    assert inputs_of(edited, "CLIPTextEncode", "clip") == [[option, 0]] * 2
    assert graph_classes([graph]) == graph_classes([edited]) - {TOKENIZER_OPTIONS}
    assert TOKENIZER_OPTIONS not in json.dumps(graph)  # the original is left alone


def test_every_scenario_with_tokenizer_options_has_one_per_clip_loader() -> None:
    for scenario in scenarios(tokenizer_options=True):
        classes = [n["class_type"] for n in scenario.graph.values()]
        assert classes.count(TOKENIZER_OPTIONS) == classes.count("CLIPLoader") == 1


def test_the_edge_scenarios_are_what_their_names_say() -> None:
    found = by_name()
    length80 = found["edge_i2v_length80"].graph
    short = found["edge_it_audio_short"].graph
    trim = found["edge_trim_past_end"].graph
    s2v = found["s2v_2chunks"].graph

    assert inputs_of(length80, "WanImageToVideo", "length") == [80]
    assert with_length(found["i2v_seg0"].graph, "WanImageToVideo", 80).keys() == length80.keys()
    sound_starts = inputs_of(short, "TrimAudioDuration", "start_index")
    durations = inputs_of(short, "TrimAudioDuration", "duration")
    assert all(s < SHORT_S < s + d for s, d in zip(sound_starts, durations, strict=True))
    assert max(inputs_of(trim, "TrimAudioDuration", "start_index")) > SHORT_S
    assert s2v_output_frames(77, 2) / 16 < SPEECH_S
    assert inputs_of(s2v, "WanSoundImageToVideo", "width") == [WIDTH]
    assert inputs_of(s2v, "WanSoundImageToVideo", "height") == [HEIGHT]
    assert found["edge_trim_past_end"].expected == "execution_error"


def test_the_rejected_graph_has_a_missing_model_and_a_bad_combo_only() -> None:
    graph = by_name()["i2v_seg0"].graph

    rejected = rejected_graph(graph)

    changed = {i for i in graph if graph[i] != rejected[i]}
    assert {graph[i]["class_type"] for i in changed} == {"UNETLoader", "KSamplerAdvanced"}
    assert set(inputs_of(rejected, "KSamplerAdvanced", "sampler_name")) == {
        "capture_no_such_sampler"
    }


def test_a_selected_scenario_brings_what_it_continues_in_capture_order() -> None:
    chosen = selected_scenarios(
        ["edge_trim_past_end", "i2v_seg1", "http_jobs"], tokenizer_options=False
    )

    assert [s.name for s in chosen] == [
        "i2v_seg0",
        "i2v_seg1",
        "infinitetalk_w0",
        "edge_trim_past_end",
    ]
    with pytest.raises(ValueError, match="nosuch"):
        selected_scenarios(["nosuch"], tokenizer_options=False)


def test_a_binary_frame_is_its_length_head_and_two_big_endian_words() -> None:
    data = (4).to_bytes(4, "big") + (17).to_bytes(4, "big") + b"{...}jpeg"

    assert binary_frame(data) == {
        "len": len(data),
        "first8_hex": "0000000400000011",
        "event_type_u32be": 4,
        "second_u32be": 17,
    }


def test_a_transcript_ends_at_executing_null_of_its_prompt() -> None:
    transcript = Transcript("ws://unused")
    transcript.frames = [
        {"t": 0.0, "type": "status", "data": {"status": {}, "sid": "x"}},
        {"t": 0.1, "type": "execution_success", "data": {"prompt_id": "other"}},
        {"t": 0.2, "type": "executing", "data": {"node": None, "prompt_id": "other"}},
        {"t": 0.3, "type": "execution_error", "data": {"prompt_id": "mine"}},
    ]

    assert transcript.end("mine") is None
    transcript.frames.append(
        {"t": 0.4, "type": "executing", "data": {"node": None, "prompt_id": "mine"}}
    )
    assert transcript.end("mine") == transcript.frames[3]


def test_the_inputs_are_a_96x64_png_and_a_mono_16_khz_tone() -> None:
    image = Image.open(io.BytesIO(portrait_png()))
    with wave.open(io.BytesIO(tone_wav(1.5))) as sound:
        assert (sound.getnchannels(), sound.getframerate(), sound.getnframes()) == (1, 16000, 24000)

    assert image.size == (WIDTH, HEIGHT)
    assert len(image.getcolors() or []) > 2
