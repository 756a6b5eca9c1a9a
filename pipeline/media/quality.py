"""Measuring a segment and a seam for the quality gate, with ffmpeg's own filters.

``measure_segment`` decodes a segment once through ``blackdetect``, ``freezedetect`` and
``signalstats`` (per-frame ``YAVG``, ``SATAVG`` and ``YDIF``, the motion measure), printed
by the ``metadata`` filter to stdout, plus a packet-count ``ffprobe`` for the audio. A file
ffprobe or ffmpeg cannot read gives figures with ``decodable`` false, never an exception.

``measure_seam`` decodes the frames either side of a seam once: the last
``seam_neighbours + 1`` frames of the segment before and as many of the segment after,
from its frame ``overlap_frames`` on, joined into one short sequence that runs through
``signalstats`` and, against itself one frame later, through ``ssim``. The pair across the
seam is held against the median of the other pairs (the baseline: neighbouring frames
inside each segment near the seam).

What "the first frame after the seam" is, per kind (``pipeline.domain.frames.plan``): the
first frame the stitched video keeps of the later segment, i.e. its frame
``Segment.drop_leading``. An i2v extension starts from the previous segment's last frame
and re-renders it (overlap 1), so it is frame 1; an InfiniteTalk window re-renders the
previous window's last 9 motion frames, so it is frame 9; a segment with no overlap (an
operator's graph) starts at frame 0. S2V renders its chunk set as one segment whose chunks
are joined inside one decode, so an s2v session has no seam to measure (its segment's
black, frozen, frame and audio checks still run).

Cost (``bench/quality.py``, 2 shared cores, load ~3): the gate on an 81-frame 832x480
segment and its seam takes ~0.6 s, ~55 % of that segment's share of the stitch (~1.1 s):
a decode of each of the two segments is most of it, so issue 21's 10 % is not met here.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ffmpeg

from pipeline.domain.errors import InternalError, MediaError
from pipeline.domain.quality import (
    FrozenRun,
    QualityThresholds,
    Run,
    SeamQuality,
    SegmentQuality,
)
from pipeline.media.probe import MediaInfo, probe
from pipeline.media.process import ffmpeg_command, run, stderr_tail

_STAT = "lavfi.signalstats."
_BLACK_START, _BLACK_END = "lavfi.black_start", "lavfi.black_end"
_FREEZE_START, _FREEZE_END = "lavfi.freezedetect.freeze_start", "lavfi.freezedetect.freeze_end"
_SSIM_Y = "lavfi.ssim.Y"
ANALYSIS_SCALE = 2
"""A segment is analysed at half its width and height (area-averaged): signalstats costs
half as much again as decoding at full size, and means, black pixels and holds do not
need every pixel; YDIF and freezedetect then see a little less encoder noise."""
_SEAM_RATE = 25
"""Any frame rate: the seam's frames are re-timed by index so ``ssim`` pairs them exactly."""


@dataclass
class _Frame:
    pts_s: float
    values: dict[str, str] = field(default_factory=dict)

    def number(self, key: str) -> float:
        return float(self.values[key])


def parse_metadata(text: str) -> list[_Frame]:
    """The ``metadata=mode=print`` output: a ``frame:N pts:P pts_time:T`` line per frame,
    then its ``key=value`` lines."""
    frames: list[_Frame] = []
    for line in text.splitlines():
        if line.startswith("frame:"):
            fields = dict(part.split(":", 1) for part in line.split())
            frames.append(_Frame(pts_s=float(fields.get("pts_time", "nan"))))
        elif "=" in line and frames:
            key, value = line.strip().split("=", 1)
            frames[-1].values[key] = value
    return frames


def build_segment_command(path: Path, thresholds: QualityThresholds) -> list[str]:
    """One decode of ``path`` printing every frame's black, freeze and signalstats metadata."""
    stream = (
        ffmpeg.input(str(path))
        .video.filter("scale", f"iw/{ANALYSIS_SCALE}", f"ih/{ANALYSIS_SCALE}", flags="area")
        .filter(
            "blackdetect",
            d=0,
            pic_th=thresholds.black_picture_ratio,
            pix_th=thresholds.black_pixel_threshold,
        )
        .filter("freezedetect", n=f"{thresholds.freeze_noise_db}dB", d=thresholds.freeze_min_s)
        .filter("signalstats")
        .filter("metadata", mode="print", file="-")
    )
    return ffmpeg_command(stream.output("-", f="null"))


def _nearest(frames: list[_Frame], seconds: float) -> int:
    return min(range(len(frames)), key=lambda i: abs(frames[i].pts_s - seconds))


def _spans(frames: list[_Frame], start: str, end: str, *, by_time: bool) -> Iterator[range]:
    """Frame ranges between ``start`` and ``end`` markers; an open one runs to the last
    frame. blackdetect marks the frames themselves; freezedetect marks a run once it has
    lasted its duration, naming its first frame's time (``by_time``)."""
    opened: int | None = None
    for index, frame in enumerate(frames):
        if opened is None and start in frame.values:
            opened = _nearest(frames, float(frame.values[start])) if by_time else index
        elif opened is not None and end in frame.values:
            yield range(opened, index)
            opened = None
    if opened is not None:
        yield range(opened, len(frames))


def _run(span: range, fps: float) -> Run:
    return Run(
        start_frame=span.start,
        frames=len(span),
        start_s=span.start / fps,
        duration_s=len(span) / fps,
    )


@dataclass(frozen=True)
class _Plan:
    """What the plan expects of the segment measured."""

    index: int
    expected_frames: int
    fps: float
    expect_audio: bool

    def unreadable(self, error: str) -> SegmentQuality:
        return SegmentQuality(
            index=self.index,
            decodable=False,
            error=error,
            expected_frames=self.expected_frames,
            fps=self.fps,
            audio_expected=self.expect_audio,
            expected_duration_s=self.expected_frames / self.fps,
        )


def _figures(frames: list[_Frame], info: MediaInfo, plan: _Plan) -> SegmentQuality:
    fps = plan.fps
    motion = [frame.number(_STAT + "YDIF") for frame in frames]
    black = [_run(span, fps) for span in _spans(frames, _BLACK_START, _BLACK_END, by_time=False)]
    frozen_spans = list(_spans(frames, _FREEZE_START, _FREEZE_END, by_time=True))
    frozen = [
        FrozenRun(
            **_run(span, fps).model_dump(),
            motion=statistics.fmean(motion[span.start + 1 : span.stop] or [0.0]),
        )
        for span in frozen_spans
    ]
    held = {i for span in frozen_spans for i in span}
    # Frame 0's YDIF is 0 by definition (no frame before it).
    moving = [motion[i] for i in range(1, len(frames)) if i not in held]
    black_frames = sum(run.frames for run in black)
    return SegmentQuality(
        index=plan.index,
        decodable=True,
        frames=len(frames),
        expected_frames=plan.expected_frames,
        fps=fps,
        width=info.width,
        height=info.height,
        black_frames=black_frames,
        black_ratio=black_frames / len(frames),
        longest_black_run=max((run.frames for run in black), default=0),
        black_runs=tuple(black),
        frozen_runs=tuple(frozen),
        motion_baseline=statistics.median(moving) if moving else None,
        mean_luma=statistics.fmean(frame.number(_STAT + "YAVG") for frame in frames),
        mean_saturation=statistics.fmean(frame.number(_STAT + "SATAVG") for frame in frames),
        audio_expected=plan.expect_audio,
        audio_present=info.has_audio,
        audio_duration_s=info.audio_duration_s,
        expected_duration_s=plan.expected_frames / fps,
    )


def measure_segment(
    path: Path,
    *,
    expected_frames: int,
    fps: float,
    expect_audio: bool,
    thresholds: QualityThresholds,
    index: int = 0,
) -> SegmentQuality:
    """The figures of one segment video (``index`` is its place in the plan).

    Raises ``InternalError`` only when ffmpeg prints metadata this module cannot read.
    """
    plan = _Plan(index, expected_frames, fps, expect_audio)
    try:
        info = probe(path, decode=False)
    except MediaError as exc:
        return plan.unreadable(exc.message)
    if not info.has_video:
        return plan.unreadable(f"{path.name} has no video stream")
    done = run(build_segment_command(path, thresholds))
    frames = parse_metadata(done.stdout.decode("utf-8", errors="replace"))
    if done.returncode != 0 or not frames:
        reason = stderr_tail(done.stderr, lines=1).replace(str(path), path.name)
        return plan.unreadable(reason or "no frame decoded")
    try:
        return _figures(frames, info, plan)
    except (KeyError, ValueError) as exc:
        raise InternalError(f"unexpected ffmpeg metadata for {path.name}: {exc}") from exc


def build_seam_command(
    before: Path,
    after: Path,
    *,
    before_frames: int,
    overlap_frames: int,
    neighbours: int,
    size: tuple[int, int],
) -> list[str]:
    """One run joining ``before``'s last ``neighbours + 1`` frames to ``neighbours + 1`` of
    ``after`` from ``overlap_frames`` on, scaled to ``size`` (``before``'s; a no-op when they
    agree), printing each frame's signalstats and its SSIM against the next frame."""
    tail = (
        ffmpeg.input(str(before))
        .video.trim(start_frame=before_frames - neighbours - 1)
        .setpts("PTS-STARTPTS")
    )
    head = (
        ffmpeg.input(str(after))
        .video.trim(start_frame=overlap_frames, end_frame=overlap_frames + neighbours + 1)
        .setpts("PTS-STARTPTS")
    )
    head = head.filter("scale", size[0], size[1])
    joined = (
        ffmpeg.concat(tail, head, v=1, a=0)
        .setpts(f"N/({_SEAM_RATE}*TB)")
        .filter("signalstats")
        .split()
    )
    following = joined[1].trim(start_frame=1).setpts("PTS-STARTPTS")
    pairs = ffmpeg.filter([joined[0], following], "ssim").filter("metadata", mode="print", file="-")
    return ffmpeg_command(pairs.output("-", f="null"))


def _colour(frame: _Frame) -> tuple[float, float, float]:
    return (
        frame.number(_STAT + "YAVG"),
        frame.number(_STAT + "UAVG"),
        frame.number(_STAT + "VAVG"),
    )


def measure_seam(
    before: Path,
    after: Path,
    *,
    overlap_frames: int,
    thresholds: QualityThresholds,
    index: int = 1,
) -> SeamQuality:
    """The seam between ``before``'s last frame and ``after``'s frame ``overlap_frames``
    (``index`` is ``after``'s place in the plan).

    Raises ``MediaError`` when the files cannot be probed, decoded or joined, or hold too
    few frames for a seam: a segment whose own figures fail.
    """
    first = probe(before, decode=False)
    before_frames = first.frame_count or 0
    # ``after`` was just measured; its frames past the overlap are counted in the run below.
    neighbours = min(thresholds.seam_neighbours, before_frames - 1)
    if neighbours < 0:
        raise MediaError(f"{before.name} has no frame to end a seam with")
    command = build_seam_command(
        before,
        after,
        before_frames=before_frames,
        overlap_frames=overlap_frames,
        neighbours=neighbours,
        size=(first.width or 0, first.height or 0),
    )
    done = run(command)
    if done.returncode != 0:
        raise MediaError(
            f"ffmpeg cannot join {before.name} and {after.name} at their seam: "
            f"{stderr_tail(done.stderr, lines=1)}",
            detail={"stderr": stderr_tail(done.stderr)},
        )
    frames = parse_metadata(done.stdout.decode("utf-8", errors="replace"))
    if len(frames) < neighbours + 2:
        raise MediaError(
            f"{after.name} has no frame past its {overlap_frames} overlap frame(s) for a seam"
        )
    # ``after`` may hold fewer frames past the overlap than ``neighbours``; the pairs it has.
    colours = [_colour(frame) for frame in frames]
    deltas = [math.dist(a, b) for a, b in itertools.pairwise(colours)]
    # Frame i's SSIM compares it with frame i + 1; the last one's, with itself.
    ssims = [frame.number(_SSIM_Y) for frame in frames[:-1]]
    inside = [i for i in range(len(deltas)) if i != neighbours]
    return SeamQuality.of(
        index=index,
        after_frame=overlap_frames,
        colour_delta=deltas[neighbours],
        colour_baseline=statistics.median([deltas[i] for i in inside]) if inside else 0.0,
        ssim=ssims[neighbours],
        ssim_baseline=statistics.median([ssims[i] for i in inside]) if inside else 1.0,
        neighbours=len(inside),
        thresholds=thresholds,
    )
