"""One entry point from a planned segment to the graph of its kind, so callers never branch.

``build_graph`` maps a ``SegmentGraphRequest`` (what the GPU activity knows after uploading
the inputs) onto the family's parameters and checks that the graph renders exactly the
frames the plan gave the segment. Anything that cannot be built is a ``GraphError``: a bug
in the plan or the request, never worth retrying. A preset of an operator's own graph
(``workflows_comfy.bound``) has the segment's values bound into that graph instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.domain.errors import GraphError, PipelineError
from pipeline.domain.frames.plan import FramePlan, WindowPlan
from pipeline.domain.frames.rules import I2V_LAST_FRAME_OVERLAP
from pipeline.domain.manifest import Kind
from workflows_comfy.bound import BoundGraphPreset, bind, without_previous
from workflows_comfy.graph import ApiGraph, check_sampling, check_size, resolve
from workflows_comfy.i2v import I2VParams, build_i2v
from workflows_comfy.infinitetalk import InfiniteTalkParams, build_infinitetalk
from workflows_comfy.presets import PRESETS, preset_of_type
from workflows_comfy.s2v import S2VParams, build_s2v

I2V_START_FRAMES = I2V_LAST_FRAME_OVERLAP
"""An I2V extension starts from the previous segment's last frame (and re-renders it)."""


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
    """The previous segment's video as uploaded, for kinds that continue from its frames
    when it saved no hand-off frames."""
    previous_frames_name: str | None = None
    """The previous segment's hand-off frames as uploaded (one multi-frame PNG)."""
    handoff_frames: int = 0
    """Last frames the graph also saves losslessly for the next segment (``handoff_frames``)."""


def build_graph(kind: Kind | str, request: SegmentGraphRequest) -> ApiGraph:
    """The API-format graph rendering ``request`` for ``kind``; ``GraphError`` if impossible."""
    try:
        build = _BUILDERS[Kind(kind)]
    except (ValueError, KeyError):
        raise GraphError(f"no graph builder for kind {kind!r}") from None
    chosen = PRESETS.get(request.preset)
    if isinstance(chosen, BoundGraphPreset):
        if chosen.kind != Kind(kind).value:
            raise GraphError(
                f"preset {chosen.name!r} is for {chosen.kind!r}, not {Kind(kind).value}"
            )
        build = _bound
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


def handoff_frames(plan: FramePlan, index: int, preset: str) -> int:
    """Frames segment ``index``'s graph saves for the next segment to condition on.

    An I2V extension starts from one frame (``WanImageToVideo.start_image``); an
    InfiniteTalk window encodes the previous window's last ``motion_frames``
    (``WanInfiniteTalkToVideo``, ComfyUI 0.33.0 ``comfy_extras/nodes_wan.py``), a later S2V
    segment the previous segment's last 73 (``WanSoundImageToVideo.ref_motion``). None for
    the last segment, and none for an operator's bound graph, which continues the MP4.
    """
    if index + 1 >= len(plan.segments) or isinstance(PRESETS.get(preset), BoundGraphPreset):
        return 0
    if plan.continuation == "previous_segment":
        if plan.windows is None:
            raise GraphError("a plan whose segments continue each other has no windows")
        return plan.windows.motion_frames
    return I2V_START_FRAMES


def output_node(preset: str) -> str | None:
    """The node whose video is the segment: a bound graph's ``output``; ``None`` for the
    built-in graphs, which save one video."""
    chosen = PRESETS.get(preset)
    return chosen.output if isinstance(chosen, BoundGraphPreset) else None


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


def _i2v(request: SegmentGraphRequest) -> tuple[ApiGraph, int]:
    params = I2VParams(
        image_name=request.image_name,
        **_shared(request),
        length=request.length,
        handoff_frames=request.handoff_frames,
    )
    return build_i2v(params), params.length


def _s2v(request: SegmentGraphRequest) -> tuple[ApiGraph, int]:
    """The plan's S2V segment ``segment_index``: its chunks (``WindowPlan.segment_chunks``),
    continuing the previous segment's saved last frames when it is not the first."""
    windows = _windows(request, "s2v")
    if windows.overlap:
        raise ValueError(
            f"S2V chunks do not overlap in frames (motion comes from the latent), "
            f"but the plan says {windows.overlap}"
        )
    if request.previous_video_name is not None:
        raise ValueError(
            "an S2V segment continues the previous segment's saved hand-off frames "
            "(ref_motion), which that segment did not save"
        )
    first, chunks = windows.segment_chunks(request.segment_index)
    params = S2VParams(
        image_name=request.image_name,
        audio_name=_audio(request, "s2v"),
        **_shared(request),
        chunks=chunks,
        chunk_length=windows.length,
        first_chunk=first,
        previous_frames_name=request.previous_frames_name,
        handoff_frames=request.handoff_frames,
    )
    return build_s2v(params), params.output_frames


def _window(request: SegmentGraphRequest) -> InfiniteTalkParams:
    """The plan's InfiniteTalk window ``segment_index``, continuing the one before."""
    windows = _windows(request, "infinitetalk")
    if not 0 <= request.segment_index < len(windows.frame_offsets):
        raise ValueError(
            f"segment {request.segment_index} is not one of the plan's "
            f"{len(windows.frame_offsets)} window(s)"
        )
    return InfiniteTalkParams(
        image_name=request.image_name,
        audio_name=_audio(request, "infinitetalk"),
        **_shared(request),
        start_frame=windows.frame_offsets[request.segment_index],
        previous_video_name=request.previous_video_name,
        previous_frames_name=request.previous_frames_name,
        # The saved hand-off holds the motion frames; a video, the whole window.
        previous_frames=(
            windows.motion_frames if request.previous_frames_name is not None else windows.length
        ),
        length=windows.length,
        motion_frames=windows.motion_frames,
        handoff_frames=request.handoff_frames,
    )


def _infinitetalk(request: SegmentGraphRequest) -> tuple[ApiGraph, int]:
    """One window per segment (``_window``)."""
    params = _window(request)
    return build_infinitetalk(params), params.length


def _bound(request: SegmentGraphRequest) -> tuple[ApiGraph, int]:
    """An operator's graph (``workflows_comfy.bound``) with the segment's values bound.

    Values are checked as the built-in builders check theirs; the graph renders ``length``
    frames (an InfiniteTalk window's, else the segment's).
    """
    chosen = preset_of_type(request.preset, BoundGraphPreset, "a bound graph")
    steps, cfg = resolve(request.steps, chosen.steps), resolve(request.cfg, chosen.cfg)
    check_size(request.width, request.height)
    check_sampling(seed=request.seed, cfg=cfg, filename_prefix=request.filename_prefix)
    if request.length < 1:
        raise ValueError(f"length must be >= 1 frame, got {request.length}")
    if request.handoff_frames or request.previous_frames_name is not None:
        raise ValueError("a bound graph hands over through its video, not saved frames")
    if chosen.kind == Kind.S2V.value and request.windows is not None:
        per = request.windows.chunks_per_segment
        if per is not None:
            raise ValueError(
                f"an operator's S2V graph renders every chunk in one prompt, but the plan "
                f"splits its {request.windows.count} chunks into segments of at most {per} "
                "(S2V_CHUNKS_PER_PROMPT): use a built-in S2V preset, or audio that fits "
                f"{per} chunks"
            )
    values: dict[str, Any] = {
        "image": request.image_name,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt or None,
        "seed": request.seed,
        "steps": steps,
        "cfg": float(cfg),
        "width": request.width,
        "height": request.height,
        "length": request.length,
        "fps": float(request.fps),
        "filename_prefix": request.filename_prefix,
    }
    if chosen.kind != Kind.I2V.value:
        values["audio"] = _audio(request, chosen.kind)
    graph = chosen.graph
    if chosen.kind == Kind.INFINITETALK.value:
        window = _window(request)
        window.check(steps, cfg)
        values |= {
            "length": window.length,
            "previous_video": window.previous_video_name,
            "motion_frames": window.motion_frames,
            "audio_start": window.audio_start_frame / window.fps,
            "audio_duration": window.audio_frames / window.fps,
        }
        if window.previous_video_name is None:
            graph = without_previous(graph, chosen.bindings)
    return bind(graph, chosen, values), values["length"]


_BUILDERS: dict[Kind, Callable[[SegmentGraphRequest], tuple[ApiGraph, int]]] = {
    Kind.I2V: _i2v,
    Kind.S2V: _s2v,
    Kind.INFINITETALK: _infinitetalk,
}
