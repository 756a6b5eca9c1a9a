"""Frame plans: every frame count the later stages use, computed once. Pure, no I/O.

A plan is a list of generated segments. Each segment after the first is conditioned on
the last ``overlap`` frames of the one before, so it starts by re-rendering them; the
stitcher drops those leading frames exactly once, and the plan says how many.
S2V generates segments of at most ``S2V_CHUNKS_PER_PROMPT`` chunks, each graph chaining its
chunks over its stretch of the audio and each later segment continuing the previous one's
last 73 frames (one segment when the clip fits one); InfiniteTalk generates one segment per
81-frame window, each continuing the previous window's video.
Audio-driven kinds pad their audio with silence to the planned length for generation and
the video is trimmed back to the real audio afterwards. The rules behind each number
live in ``pipeline.domain.frames.rules``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.domain.errors import InternalError
from pipeline.domain.frames.rules import (
    I2V_LAST_FRAME_OVERLAP,
    INFINITETALK_MOTION_FRAMES,
    INFINITETALK_WINDOW_FRAMES,
    S2V_CHUNK_LENGTH,
    S2V_CHUNKS_PER_PROMPT,
    S2V_FPS,
    S2V_MOTION_FRAMES,
    WAN_SEGMENT_FRAMES,
    audio_frames,
    i2v_segment_lengths,
    infinitetalk_total,
    infinitetalk_windows,
    is_wan_length,
    s2v_chunk_frames,
    s2v_chunks,
    s2v_segment_chunks,
    s2v_segment_frames,
    s2v_total_frames,
    stitched_frames,
)
from pipeline.domain.manifest import Kind, Manifest

__all__ = [
    "I2V_LAST_FRAME_OVERLAP",
    "WAN_SEGMENT_FRAMES",
    "FramePlan",
    "Segment",
    "WindowPlan",
    "is_wan_length",
    "plan_for",
    "plan_i2v",
    "plan_infinitetalk",
    "plan_s2v",
]


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
    motion_frames: int = Field(
        default=0, ge=0, description="Frames of the previous window each window is shown."
    )
    frame_offsets: tuple[int, ...] = Field(
        default=(), description="Output frame (and audio frame) each window starts at."
    )
    chunks_per_segment: int | None = Field(
        default=None,
        gt=0,
        description="S2V: the most chunks one segment (one prompt) renders; None: all.",
    )

    def segment_chunks(self, index: int) -> tuple[int, int]:
        """The first chunk and the number of chunks segment ``index`` renders (S2V).

        Without ``chunks_per_segment`` segment 0 renders every chunk (plans made before
        S2V was segmented). ``ValueError`` for a segment the plan does not have.
        """
        per = self.chunks_per_segment or self.count
        counts = s2v_segment_chunks(self.count, per)
        if not 0 <= index < len(counts):
            raise ValueError(f"segment {index} is not one of the plan's {len(counts)} segment(s)")
        return index * per, counts[index]


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
    continuation: Literal["last_frames", "previous_segment"] = "last_frames"
    """What a segment after the first is given of the one before: its last frames as an
    image (I2V extensions), or the previous segment's last ``windows.motion_frames`` as it
    saved them, else its video (InfiniteTalk windows, ``WanInfiniteTalkToVideo.
    previous_frames``; S2V segments, ``WanSoundImageToVideo.ref_motion``)."""

    @property
    def final_frames(self) -> int:
        return self.total_frames if self.output_frames is None else self.output_frames


def _seconds(frames: int, fps: int) -> float:
    return round(frames / fps, 6)


def plan_i2v(
    *,
    extensions: int = 0,
    fps: int,
    width: int,
    height: int,
    segment_length: int = WAN_SEGMENT_FRAMES,
    overlap: int = I2V_LAST_FRAME_OVERLAP,
    duration_s: float | None = None,
) -> FramePlan:
    """Initial segment plus ``extensions`` segments, each adding ``length - overlap`` frames.

    Seed 004 generates an initial 81 frames and then extensions that overlap the previous
    segment; here each extension is conditioned on the previous segment's last ``overlap``
    frames, which it re-renders first. With ``duration_s`` the segments are chosen instead
    (``i2v_segment_lengths``): the nearest valid frame count, which the notes state.
    """
    if extensions < 0:
        raise ValueError("extensions must be >= 0")
    if not is_wan_length(segment_length):
        raise ValueError(f"segment length {segment_length} is not 4·n + 1")
    if not 1 <= overlap < segment_length:
        raise ValueError(f"overlap {overlap} must be between 1 and {segment_length - 1}")
    notes: list[str] = []
    if duration_s is None:
        lengths = (segment_length,) * (extensions + 1)
    else:
        if extensions:
            raise ValueError("give either extensions or duration_s, not both")
        if duration_s <= 0:
            raise ValueError(f"duration_s must be positive, not {duration_s}")
        lengths = i2v_segment_lengths(duration_s * fps, segment_length, overlap)
        planned = stitched_frames(lengths, overlap)
        notes.append(
            f"{duration_s:g} s asked = {duration_s * fps:g} frames at {fps} fps; the nearest "
            f"valid count is {planned} frames ({_seconds(planned, fps):g} s)"
        )
    segments = tuple(
        Segment(index=i, length=length, drop_leading=0 if i == 0 else overlap)
        for i, length in enumerate(lengths)
    )
    total = sum(segment.new_frames for segment in segments)
    last = f", the last one {lengths[-1]}" if lengths[-1] != lengths[0] else ""
    notes.append(
        f"{len(segments)} segment(s) of {lengths[0]} frames{last}; each extension re-renders "
        f"the last {overlap} frame(s) of the previous one, dropped once when stitching"
    )
    return FramePlan(
        kind=Kind.I2V,
        fps=fps,
        width=width,
        height=height,
        segment_length=lengths[0],
        overlap=overlap,
        segments=segments,
        total_frames=total,
        duration_s=_seconds(total, fps),
        notes=tuple(notes),
    )


def _audio_plan(
    kind: Kind,
    *,
    audio_s: float,
    fps: int,
    width: int,
    height: int,
    total: int,
    padded_frames: int,
    windows: WindowPlan,
    notes: tuple[str, ...],
    segments: tuple[Segment, ...] | None = None,
    continuation: Literal["last_frames", "previous_segment"] = "last_frames",
) -> FramePlan:
    """``segments`` default to one segment of all ``total`` frames."""
    trimmed = audio_frames(audio_s, fps)
    planned = segments or (Segment(index=0, length=total, drop_leading=0),)
    return FramePlan(
        kind=kind,
        fps=fps,
        width=width,
        height=height,
        segment_length=planned[0].length,
        overlap=planned[1].drop_leading if len(planned) > 1 else 0,
        segments=planned,
        continuation=continuation,
        total_frames=total,
        duration_s=_seconds(trimmed, fps),
        notes=(
            *notes,
            f"audio of {audio_s:g} s padded with silence to {_seconds(padded_frames, fps):g} s "
            f"for generation; the video is trimmed from {total} to {trimmed} frames",
        ),
        windows=windows,
        audio_s=audio_s,
        audio_padded_s=_seconds(padded_frames, fps),
        output_frames=trimmed,
    )


def plan_infinitetalk(audio_s: float, *, fps: int = 25, width: int, height: int) -> FramePlan:
    """The smallest window-aligned length covering ``audio_s`` (seed 001's table).

    Each 81-frame window is a segment of its own (one ComfyUI prompt, see
    ``workflows_comfy.infinitetalk``) that re-renders the previous window's last 9 frames,
    dropped once when stitching; the audio is padded with silence to exactly the planned
    frames, so no window sees zero-padded embeddings (what degrades the last seconds in
    seed 001).
    """
    needed = audio_frames(audio_s, fps)
    count = infinitetalk_windows(needed)
    total = infinitetalk_total(count)
    stride = INFINITETALK_WINDOW_FRAMES - INFINITETALK_MOTION_FRAMES
    windows = WindowPlan(
        length=INFINITETALK_WINDOW_FRAMES,
        overlap=INFINITETALK_MOTION_FRAMES,
        count=count,
        motion_frames=INFINITETALK_MOTION_FRAMES,
        frame_offsets=tuple(i * stride for i in range(count)),
    )
    return _audio_plan(
        Kind.INFINITETALK,
        audio_s=audio_s,
        fps=fps,
        width=width,
        height=height,
        total=total,
        padded_frames=total,
        windows=windows,
        segments=tuple(
            Segment(
                index=i,
                length=INFINITETALK_WINDOW_FRAMES,
                drop_leading=0 if i == 0 else INFINITETALK_MOTION_FRAMES,
            )
            for i in range(count)
        ),
        continuation="previous_segment",
        notes=(
            f"{needed} frames of audio at {fps} fps → {count} window(s) of "
            f"{INFINITETALK_WINDOW_FRAMES} overlapping by {INFINITETALK_MOTION_FRAMES}: "
            f"{total} frames",
        ),
    )


def plan_s2v(
    audio_s: float,
    *,
    fps: int = S2V_FPS,
    width: int,
    height: int,
    chunk_length: int = S2V_CHUNK_LENGTH,
    chunks_per_segment: int = S2V_CHUNKS_PER_PROMPT,
) -> FramePlan:
    """Wan 2.2 S2V: ``WanSoundImageToVideo`` then one ``…Extend`` per further chunk.

    Up to ``chunks_per_segment`` chunks the latents are concatenated and decoded once: one
    segment of ``s2v_total_frames``, each chunk ``s2v_chunk_frames`` later in the audio.
    Longer audio is split into segments of at most ``chunks_per_segment`` chunks
    (``s2v_segment_chunks``), one ComfyUI prompt each, so a prompt's memory and time are
    bounded by the segment, not the clip (``S2V_CHUNKS_PER_PROMPT``); each later segment
    continues the previous one's last ``S2V_MOTION_FRAMES`` frames (``continuation``
    ``previous_segment``) and adds ``s2v_segment_frames``, so the totals, the padded audio
    and every chunk's place in the audio are those of the one-prompt plan. No frame is
    re-rendered (``drop_leading`` 0).
    """
    if fps != S2V_FPS:
        raise ValueError(
            f"S2V's audio windows assume {S2V_FPS} fps (wan_sound_to_video), not {fps}"
        )
    needed = audio_frames(audio_s, fps)
    count = s2v_chunks(needed, chunk_length)
    total = s2v_total_frames(chunk_length, count)
    step = s2v_chunk_frames(chunk_length)
    counts = s2v_segment_chunks(count, chunks_per_segment)
    notes = [
        f"{needed} frames of audio at {fps} fps → {count} chunk(s) of length "
        f"{chunk_length}, each {step} frames further into the audio: {total} frames",
    ]
    segmented = len(counts) > 1
    if segmented:
        notes.append(
            f"{len(counts)} segments of at most {chunks_per_segment} chunks, one prompt each; "
            f"each later segment continues the last {S2V_MOTION_FRAMES} frames of the one "
            "before and its own stretch of the audio"
        )
    windows = WindowPlan(
        length=chunk_length,
        overlap=0,
        count=count,
        motion_frames=S2V_MOTION_FRAMES,
        frame_offsets=tuple(i * step for i in range(count)),
        chunks_per_segment=chunks_per_segment if segmented else None,
    )
    return _audio_plan(
        Kind.S2V,
        audio_s=audio_s,
        fps=fps,
        width=width,
        height=height,
        total=total,
        padded_frames=count * step,
        windows=windows,
        segments=tuple(
            Segment(
                index=i,
                length=s2v_segment_frames(chunk_length, chunks, first=i == 0),
                drop_leading=0,
            )
            for i, chunks in enumerate(counts)
        )
        if segmented
        else None,
        continuation="previous_segment" if segmented else "last_frames",
        notes=tuple(notes),
    )


def plan_for(manifest: Manifest, audio_s: float | None) -> FramePlan:
    """The plan for ``manifest``; audio-driven kinds need the cropped audio's length (s).

    Raises ``InternalError`` when an audio-driven kind is planned without ``audio_s``.
    """
    size = {"width": manifest.width, "height": manifest.height}
    if manifest.kind is Kind.I2V:
        return plan_i2v(extensions=manifest.extensions, fps=manifest.effective_fps, **size)
    if audio_s is None:
        raise InternalError(f"kind {manifest.kind.value!r} needs the audio's length to plan")
    if manifest.kind is Kind.INFINITETALK:
        return plan_infinitetalk(audio_s, fps=manifest.effective_fps, **size)
    return plan_s2v(audio_s, fps=manifest.effective_fps, **size)
