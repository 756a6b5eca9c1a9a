"""Which ``/object_info`` entries a capture keeps: those of every node a graph of the
project can post. Pure.

The graphs are every shipped preset's (each builder, at the capture's size; I2V with and
without the hand-off of its last frame, InfiniteTalk as a first and a continuing window, each
saving its hand-off frames, since only the latter loads the previous video; S2V as one
prompt and as a segment that continues another and hands over, as long clips split), every
operator graph a ``PRESETS_FILE`` installed (``workflows_comfy.bound``), the
bring-your-own-graph examples (``deploy/presets/examples/*.json``), and the scenarios' own
(``graphs``), so comfy-sim's copy has no entry a graph does not use and lacks none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.comfy.capture.graphs import HEIGHT, IT_W0, PORTRAIT, PROMPT, SEED, SPEECH, WIDTH
from pipeline.domain.frames.rules import S2V_CHUNKS_PER_PROMPT, S2V_MOTION_FRAMES
from workflows_comfy.bound import BoundGraphPreset
from workflows_comfy.graph import ApiGraph
from workflows_comfy.i2v import I2VParams, build_i2v
from workflows_comfy.infinitetalk import MOTION_FRAMES, InfiniteTalkParams, build_infinitetalk
from workflows_comfy.presets import PRESETS, I2VPreset, InfiniteTalkPreset, S2VPreset
from workflows_comfy.s2v import S2VParams, build_s2v


def graph_classes(graphs: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every ``class_type`` in ``graphs`` (API format: node id → ``{"class_type", ...}``)."""
    return {str(node["class_type"]) for graph in graphs for node in graph.values()}


def preset_graphs() -> list[ApiGraph]:
    """One graph per shipped or installed preset (two for InfiniteTalk: first and next
    window), built as a segment of the capture's size would be."""
    shared: dict[str, Any] = {"prompt": PROMPT, "width": WIDTH, "height": HEIGHT, "seed": SEED}
    found: list[ApiGraph] = []
    for name, chosen in PRESETS.items():
        if isinstance(chosen, I2VPreset):
            for handoff in (0, 1):  # an extension's source also saves its last frame
                found.append(
                    build_i2v(
                        I2VParams(
                            PORTRAIT, length=81, preset=name, handoff_frames=handoff, **shared
                        )
                    )
                )
        elif isinstance(chosen, S2VPreset):
            found.append(build_s2v(S2VParams(PORTRAIT, SPEECH, chunks=2, preset=name, **shared)))
            later = S2VParams(
                PORTRAIT,
                SPEECH,
                chunks=2,
                first_chunk=S2V_CHUNKS_PER_PROMPT,
                previous_frames_name=PORTRAIT,
                handoff_frames=S2V_MOTION_FRAMES,
                preset=name,
                **shared,
            )
            found.append(build_s2v(later))
        elif isinstance(chosen, InfiniteTalkPreset):
            for start, previous in ((0, None), (72, IT_W0)):
                window = InfiniteTalkParams(
                    PORTRAIT,
                    SPEECH,
                    start_frame=start,
                    previous_video_name=previous,
                    handoff_frames=MOTION_FRAMES,  # a window with a successor saves its last
                    preset=name,
                    **shared,
                )
                found.append(build_infinitetalk(window))
        elif isinstance(chosen, BoundGraphPreset):
            found.append(dict(chosen.graph))
    return found


def keep_entries(
    object_info: Mapping[str, Any], classes: Iterable[str]
) -> tuple[dict[str, Any], list[str]]:
    """The entries of ``object_info`` (``GET /object_info``) for ``classes``, verbatim and in
    the server's order, and the sorted classes the server does not have."""
    wanted = set(classes)
    kept = {name: entry for name, entry in object_info.items() if name in wanted}
    return kept, sorted(wanted - kept.keys())
