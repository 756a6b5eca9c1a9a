"""Frame plans: every frame count the later stages use, computed once. Pure, no I/O.

A plan is a list of generated segments. Each segment after the first is conditioned on
the last ``overlap`` frames of the one before, so it starts by re-rendering them; the
stitcher drops those leading frames exactly once, and the plan says how many.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.manifest import Kind

WAN_SEGMENT_FRAMES = 81
"""Wan 2.x generates 81 frames per window (5 s at 16 fps): seeds 000, 003, 004."""

WAN_TEMPORAL_STRIDE = 4
"""The Wan VAE compresses time by 4, so a clip is 4·n + 1 frames (WanImageToVideo's step)."""

I2V_LAST_FRAME_OVERLAP = 1
"""An extension conditioned on the previous segment's last frame re-renders that frame."""


class Segment(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0)
    length: int = Field(gt=0, description="Frames the model generates for this segment.")
    drop_leading: int = Field(
        ge=0, description="Leading frames that repeat the previous segment; dropped once."
    )

    @property
    def new_frames(self) -> int:
        return self.length - self.drop_leading


class WindowPlan(BaseModel):
    """Context windows a single ComfyUI run slides over (InfiniteTalk, S2V chunks)."""

    model_config = ConfigDict(frozen=True)

    length: int = Field(gt=0, description="Frames per window.")
    overlap: int = Field(ge=0, description="Frames each window shares with the previous one.")
    count: int = Field(gt=0)


class FramePlan(BaseModel):
    """``plan.json``: what will be generated and how it is stitched."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    fps: int
    width: int
    height: int
    segment_length: int
    overlap: int
    segments: tuple[Segment, ...]
    total_frames: int
    duration_s: float
    notes: tuple[str, ...] = ()
    windows: WindowPlan | None = None
    """Windows inside each generated segment, for kinds whose graph slides over the audio."""
    audio_s: float | None = None
    """The cropped audio's real length; the final video is trimmed to it."""
    audio_padded_s: float | None = None
    """Audio length given to the model: padded with silence to cover every planned frame."""
    output_frames: int | None = None
    """Frames after the final trim; ``None`` means all ``total_frames``."""

    @property
    def final_frames(self) -> int:
        return self.total_frames if self.output_frames is None else self.output_frames


def is_wan_length(frames: int) -> bool:
    """True for frame counts Wan can generate: 4·n + 1 (``WAN_TEMPORAL_STRIDE``)."""
    return frames >= 1 and (frames - 1) % WAN_TEMPORAL_STRIDE == 0


def plan_i2v(
    *,
    extensions: int,
    fps: int,
    width: int,
    height: int,
    segment_length: int = WAN_SEGMENT_FRAMES,
    overlap: int = I2V_LAST_FRAME_OVERLAP,
) -> FramePlan:
    """Initial segment plus ``extensions`` segments, each adding ``length - overlap`` frames.

    Seed 004 generates an initial 81 frames and then extensions that overlap the previous
    segment; here each extension is conditioned on the previous segment's last ``overlap``
    frames, which it re-renders first.
    """
    if extensions < 0:
        raise ValueError("extensions must be >= 0")
    if not is_wan_length(segment_length):
        raise ValueError(f"segment length {segment_length} is not 4·n + 1")
    if not 1 <= overlap < segment_length:
        raise ValueError(f"overlap {overlap} must be between 1 and {segment_length - 1}")
    segments = tuple(
        Segment(index=i, length=segment_length, drop_leading=0 if i == 0 else overlap)
        for i in range(extensions + 1)
    )
    total = sum(segment.new_frames for segment in segments)
    return FramePlan(
        kind=Kind.I2V,
        fps=fps,
        width=width,
        height=height,
        segment_length=segment_length,
        overlap=overlap,
        segments=segments,
        total_frames=total,
        duration_s=round(total / fps, 6),
        notes=(
            f"{len(segments)} segment(s) of {segment_length} frames; each extension re-renders "
            f"the last {overlap} frame(s) of the previous one, dropped once when stitching",
        ),
    )
