"""One entry point from a planned segment to the graph of its kind, so callers never branch.

``build_graph`` maps a ``SegmentGraphRequest`` (what the GPU activity knows after uploading
the inputs) onto the family's parameters and checks that the graph renders exactly the
frames the plan gave the segment. Anything that cannot be built is a ``GraphError``: a bug
in the plan or the request, never worth retrying.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.domain.errors import GraphError, PipelineError
from pipeline.domain.frames.plan import WindowPlan
from pipeline.domain.manifest import Kind
from workflows_comfy.i2v import I2VParams, build_i2v
from workflows_comfy.infinitetalk import InfiniteTalkParams, build_infinitetalk
from workflows_comfy.s2v import S2VParams, build_s2v

Graph = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class SegmentGraphRequest:
    """One segment to render, with its inputs already uploaded to the worker's ComfyUI."""

    image_name: str
    prompt: str
    width: int
    height: int
    fps: float
    length: int
    """Frames the plan gives this segment; the graph must render exactly these."""
    seed: int
    preset: str
    filename_prefix: str
    negative_prompt: str = ""
    steps: int | None = None
    """``None``: the preset's default."""
    cfg: float | None = None
    """``None``: the preset's default."""
    audio_name: str | None = None
    windows: WindowPlan | None = None
    """InfiniteTalk windows or S2V chunks (``FramePlan.windows``)."""
    segment_index: int = 0
    """Which segment of the plan this is (an InfiniteTalk window's index)."""
    previous_video_name: str | None = None
    """The previous segment's video as uploaded, for kinds that continue from its frames."""


def build_graph(kind: Kind | str, request: SegmentGraphRequest) -> Graph:
    """The API-format graph rendering ``request`` for ``kind``; ``GraphError`` if impossible."""
    try:
        build = _BUILDERS[Kind(kind)]
    except (ValueError, KeyError):
        raise GraphError(f"no graph builder for kind {kind!r}") from None
    try:
        graph, frames = build(request)
    except PipelineError:
        raise
    except ValueError as exc:
        raise GraphError(f"cannot build the {Kind(kind).value} graph: {exc}") from exc
    if frames != request.length:
        raise GraphError(
            f"the {Kind(kind).value} graph renders {frames} frames but the plan gave the "
            f"segment {request.length}",
            detail={"graph_frames": frames, "planned_frames": request.length},
        )
    return graph


def _audio(request: SegmentGraphRequest, kind: str) -> str:
    if not request.audio_name:
        raise ValueError(f"{kind} needs the driving audio; the request has none")
    return request.audio_name


def _windows(request: SegmentGraphRequest, kind: str) -> WindowPlan:
    if request.windows is None:
        raise ValueError(f"{kind} needs the plan's windows; the request has none")
    return request.windows


def _shared(request: SegmentGraphRequest) -> dict[str, Any]:
    """The parameters every family's params object takes under the same name."""
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "width": request.width,
        "height": request.height,
        "fps": request.fps,
        "seed": request.seed,
        "steps": request.steps,
        "cfg": request.cfg,
        "preset": request.preset,
        "filename_prefix": request.filename_prefix,
    }


def _i2v(request: SegmentGraphRequest) -> tuple[Graph, int]:
    params = I2VParams(
        image_name=request.image_name,
        **_shared(request),
        length=request.length,
    )
    return build_i2v(params), params.length


def _s2v(request: SegmentGraphRequest) -> tuple[Graph, int]:
    windows = _windows(request, "s2v")
    if windows.overlap:
        raise ValueError(
            f"S2V chunks do not overlap in frames (motion comes from the latent), "
            f"but the plan says {windows.overlap}"
        )
    params = S2VParams(
        image_name=request.image_name,
        audio_name=_audio(request, "s2v"),
        **_shared(request),
        chunks=windows.count,
        chunk_length=windows.length,
    )
    return build_s2v(params), params.output_frames


def _infinitetalk(request: SegmentGraphRequest) -> tuple[Graph, int]:
    """One window per segment: the plan's window ``segment_index``, continuing the one before."""
    windows = _windows(request, "infinitetalk")
    if not 0 <= request.segment_index < len(windows.frame_offsets):
        raise ValueError(
            f"segment {request.segment_index} is not one of the plan's "
            f"{len(windows.frame_offsets)} window(s)"
        )
    params = InfiniteTalkParams(
        image_name=request.image_name,
        audio_name=_audio(request, "infinitetalk"),
        **_shared(request),
        start_frame=windows.frame_offsets[request.segment_index],
        previous_video_name=request.previous_video_name,
        previous_frames=windows.length,
        length=windows.length,
        motion_frames=windows.motion_frames,
    )
    return build_infinitetalk(params), params.length


_BUILDERS: dict[Kind, Callable[[SegmentGraphRequest], tuple[Graph, int]]] = {
    Kind.I2V: _i2v,
    Kind.S2V: _s2v,
    Kind.INFINITETALK: _infinitetalk,
}
