"""The graphs a capture posts, built by the project's own builders. Pure.

Every scenario renders 96x64 with seed 42 and one prompt text, each preset's default steps
and cfg, as the reference capture of ComfyUI 0.33.0 did (``docs/comfyui-capture.md``). The
graphs read inputs under fixed names (``PORTRAIT``, ``SPEECH``, ...) that the capture
uploads first; the outputs go to ``video/capture_*`` in the server's output folder.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from workflows_comfy.graph import ApiGraph
from workflows_comfy.i2v import I2VParams, build_i2v
from workflows_comfy.infinitetalk import (
    MOTION_FRAMES,
    WINDOW_FRAMES,
    InfiniteTalkParams,
    build_infinitetalk,
)
from workflows_comfy.s2v import S2VParams, build_s2v

WIDTH, HEIGHT = 96, 64
"""Pixels: the smallest size every kind accepts (multiples of 16) that still decodes."""
SEED = 42
PROMPT = "a portrait of a person talking to the camera"

PORTRAIT = "portrait.png"
SEG0_LAST = "i2v_seg0_last.png"
"""``i2v_seg0``'s last frame, extracted from its output and uploaded before ``i2v_seg1``."""
SPEECH = "speech.wav"
SHORT = "short.wav"
IT_W0 = "it_w0.mp4"
"""``infinitetalk_w0``'s output as uploaded for the windows that continue it."""
SPEECH_S = 10.0
"""Seconds of ``speech.wav``: more than S2V's 2 x 77 frames (157 at 16 fps, 9.81 s) and
InfiniteTalk's second window (to 6.12 s at 25 fps) need."""
SHORT_S = 4.0
"""Seconds of ``short.wav``: ends 2 s before InfiniteTalk's second window does (6.12 s), and
before a third window's sound starts (5.76 s)."""

TOKENIZER_OPTIONS = "T5TokenizerOptions"
"""ComfyUI's core node (``comfy_extras/nodes_cond.py``) that ``--tokenizer-options`` puts
after every ``CLIPLoader``: with ``min_padding`` and ``min_length`` 0 a short prompt is not
padded to 512 tokens, so a CPU text encode takes ~9 s instead of 57-122 s. Capture and
tests only; the shipped graphs never have it."""


@dataclass(frozen=True)
class Scenario:
    """One prompt of the capture: its graph, what it must end in, and what it needs first."""

    name: str
    graph: ApiGraph
    expected: str
    """The terminal WebSocket message it must end with (``execution_success``, ...)."""
    needs: str | None = None
    """The scenario whose output this one's inputs are made from."""


def _i2v(image: str, seed: int, prefix: str) -> ApiGraph:
    return build_i2v(
        I2VParams(
            image_name=image,
            prompt=PROMPT,
            width=WIDTH,
            height=HEIGHT,
            length=81,
            seed=seed,
            filename_prefix=prefix,
        )
    )


def _window(audio: str, start_frame: int, prefix: str) -> ApiGraph:
    return build_infinitetalk(
        InfiniteTalkParams(
            image_name=PORTRAIT,
            audio_name=audio,
            prompt=PROMPT,
            width=WIDTH,
            height=HEIGHT,
            seed=SEED,
            start_frame=start_frame,
            previous_video_name=IT_W0 if start_frame else None,
            filename_prefix=prefix,
        )
    )


def with_length(graph: ApiGraph, class_type: str, length: int) -> ApiGraph:
    """``graph`` with every ``class_type`` node's ``length`` set to ``length`` (a value the
    builders refuse, to see what the server does with it)."""
    edited = copy.deepcopy(graph)
    for node in edited.values():
        if node["class_type"] == class_type:
            node["inputs"]["length"] = length
    return edited


def with_tokenizer_options(graph: ApiGraph) -> ApiGraph:
    """``graph`` with ``T5TokenizerOptions(min_padding=0, min_length=0)`` after every
    ``CLIPLoader``, every consumer of the loader's CLIP re-linked to it. New nodes take the
    next free integer ids."""
    edited = copy.deepcopy(graph)
    next_id = max((int(i) for i in edited if i.isdigit()), default=0) + 1
    for loader_id in [i for i, n in graph.items() if n["class_type"] == "CLIPLoader"]:
        option_id = str(next_id)
        next_id += 1
        for node in edited.values():
            for name, value in node["inputs"].items():
                if value == [loader_id, 0]:
                    node["inputs"][name] = [option_id, 0]
        edited[option_id] = {
            "class_type": TOKENIZER_OPTIONS,
            "inputs": {"clip": [loader_id, 0], "min_padding": 0, "min_length": 0},
            "_meta": {"title": "Tokenizer options (capture and real tier only)"},
        }
    return edited


def scenarios(*, tokenizer_options: bool = False) -> list[Scenario]:
    """Every prompt scenario, in the order a capture runs them on one server (each one's
    ``execution_cached`` depends on the one before)."""
    seg0 = _i2v(PORTRAIT, SEED, "video/capture_i2v_seg0")
    second_window = WINDOW_FRAMES - MOTION_FRAMES
    found = [
        Scenario("i2v_seg0", seg0, "execution_success"),
        Scenario(
            "i2v_seg1",
            _i2v(SEG0_LAST, SEED + 1, "video/capture_i2v_seg1"),
            "execution_success",
            needs="i2v_seg0",
        ),
        Scenario(
            "s2v_2chunks",
            build_s2v(
                S2VParams(
                    image_name=PORTRAIT,
                    audio_name=SPEECH,
                    prompt=PROMPT,
                    width=WIDTH,
                    height=HEIGHT,
                    chunks=2,
                    seed=SEED,
                    filename_prefix="video/capture_s2v",
                )
            ),
            "execution_success",
        ),
        Scenario("infinitetalk_w0", _window(SPEECH, 0, "video/capture_it_w0"), "execution_success"),
        Scenario(
            "infinitetalk_w1",
            _window(SPEECH, second_window, "video/capture_it_w1"),
            "execution_success",
            needs="infinitetalk_w0",
        ),
        Scenario(
            "edge_i2v_length80",
            with_length(_i2v(PORTRAIT, SEED, "video/capture_edge_len80"), "WanImageToVideo", 80),
            "execution_success",
        ),
        Scenario(
            "edge_it_audio_short",
            _window(SHORT, second_window, "video/capture_edge_it_short"),
            "execution_success",
            needs="infinitetalk_w0",
        ),
        Scenario(
            "edge_trim_past_end",
            _window(SHORT, 2 * second_window, "video/capture_edge_trim"),
            "execution_error",
            needs="infinitetalk_w0",
        ),
    ]
    if not tokenizer_options:
        return found
    return [Scenario(s.name, with_tokenizer_options(s.graph), s.expected, s.needs) for s in found]


def rejected_graph(graph: ApiGraph) -> ApiGraph:
    """``graph`` (an i2v one) with a model file no server has in its ``UNETLoader``s and a
    sampler no server knows in its ``KSamplerAdvanced``s: ``POST /prompt`` must answer 400
    with both in ``node_errors`` (``value_not_in_list``)."""
    edited: dict[str, Any] = copy.deepcopy(graph)
    for node in edited.values():
        if node["class_type"] == "UNETLoader":
            node["inputs"]["unet_name"] = "capture_no_such_model.safetensors"
        elif node["class_type"] == "KSamplerAdvanced":
            node["inputs"]["sampler_name"] = "capture_no_such_sampler"
    return edited
