"""Which kinds and presets a ComfyUI server can run, judged from its ``/object_info``. Pure.

A preset is servable when a small graph of its kind passes ``validate_graph`` against the
server's object_info: every node installed, every model file offered by its loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.domain.frames.plan import WindowPlan
from pipeline.domain.manifest import Kind
from workflows_comfy.build import SegmentGraphRequest, build_graph
from workflows_comfy.infinitetalk import MOTION_FRAMES, WINDOW_FRAMES
from workflows_comfy.presets import PRESETS
from workflows_comfy.s2v import DEFAULT_CHUNK_LENGTH, s2v_output_frames
from workflows_comfy.validate import validate_graph

_PROBES: dict[Kind, tuple[int, WindowPlan | None]] = {
    Kind.I2V: (81, None),
    # Two chunks, so the probe needs the Extend and LatentConcat nodes longer runs use.
    Kind.S2V: (
        s2v_output_frames(DEFAULT_CHUNK_LENGTH, 2),
        WindowPlan(length=DEFAULT_CHUNK_LENGTH, overlap=0, count=2),
    ),
    # The second window, so the probe needs the nodes that load the previous window.
    Kind.INFINITETALK: (
        WINDOW_FRAMES,
        WindowPlan(
            length=WINDOW_FRAMES,
            overlap=MOTION_FRAMES,
            count=2,
            motion_frames=MOTION_FRAMES,
            frame_offsets=(0, WINDOW_FRAMES - MOTION_FRAMES),
        ),
    ),
}
"""Per kind: frames and windows of the small graph used as a probe."""


def probe_graph(kind: Kind, preset: str) -> dict[str, dict[str, Any]]:
    """The smallest graph of ``kind`` with ``preset``'s models."""
    length, windows = _PROBES[kind]
    return build_graph(
        kind,
        SegmentGraphRequest(
            image_name="probe.png",
            audio_name="probe.wav",
            prompt="",
            width=832,
            height=480,
            fps=25.0 if kind is Kind.INFINITETALK else 16.0,
            length=length,
            seed=0,
            preset=preset,
            filename_prefix="video/probe",
            windows=windows,
            segment_index=1 if kind is Kind.INFINITETALK else 0,
            previous_video_name="probe.mp4" if kind is Kind.INFINITETALK else None,
        ),
    )


def servable(object_info: Mapping[str, Any]) -> dict[str, list[str]]:
    """Kind → the presets of that kind this server accepts (kinds with none are left out)."""
    found: dict[str, list[str]] = {}
    for name, chosen in sorted(PRESETS.items()):
        if validate_graph(probe_graph(Kind(chosen.kind), name), object_info).ok:
            found.setdefault(chosen.kind, []).append(name)
    return found
