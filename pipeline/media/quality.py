"""Measuring a segment and its seam for the quality gate, with ffmpeg's own filters.

``measure`` decodes a segment once, scaled to the analysis size, and ``split``s it in one
ffmpeg process into up to three branches:

- the segment's figures: ``blackdetect``, ``freezedetect`` and ``signalstats`` (per-frame
  ``YAVG``, ``SATAVG`` and ``YDIF``, the motion measure), printed by the ``metadata``
  filter to stdout; its size and audio come from the same process, which copies the
  streams' packets into a ``framecrc`` listing (``pipeline.media.packets``) rather than
  starting an ffprobe;
- the seam: the frames of the segment before it (``Before``) joined to this one's frames
  from ``overlap_frames`` on, ``seam_neighbours + 1`` of each, run through
  ``signalstats`` and, against itself one frame later, through ``ssim``. The pair across
  the seam is held against the median of the other pairs (the baseline: neighbouring
  frames inside each segment near the seam);
- the tail: this segment's last ``seam_neighbours + 1`` frames at the analysis size, kept
  as a small lossless clip (FFV1 in Matroska) that the next segment's seam reads instead
  of decoding this whole segment again. Its frames are exactly those the seam would take
  from the segment's video, so a seam measured from either gives the same figures.

A file ffmpeg cannot read gives figures with ``decodable`` false, never an
exception; a seam that cannot be measured (the segment before unreadable, or too short)
leaves the segment's figures standing and says why (``Measured.seam_error``).

What "the first frame after the seam" is, per kind (``pipeline.domain.frames.plan``): the
first frame the stitched video keeps of the later segment, i.e. its frame
``Segment.drop_leading``. An i2v extension starts from the previous segment's last frame
and re-renders it (overlap 1), so it is frame 1; an InfiniteTalk window re-renders the
previous window's last 9 motion frames, so it is frame 9; a segment with no overlap (an
operator's graph) starts at frame 0. S2V renders its chunk set as one segment whose chunks
are joined inside one decode, so an s2v session has no seam to measure (its segment's
black, frozen, frame and audio checks still run).

Cost (``bench/quality.py``, 2 shared cores, load 1-3, against the version before the
single pass in the same session): the gate on an 81-frame 832x480 segment and its seam
takes ~0.27 s (was ~0.71 s: two ffmpeg decodes of the segment and one of the segment
before, and two ffprobes), ~25 % of that segment's share of the stitch (~1.1 s; 480x832:
~0.29 s, 25-38 %). Issue 21's 10 % is not met here and cannot be with a full decode:
starting ffmpeg costs ~65 ms and decoding the segment at full size alone ~110-150 ms,
~15 % of the stitch share; scaling, the filters and the tail add ~80 ms. ``-threads 1``
or ``-filter_threads 1`` changed nothing measurable; an analysis scale of 4 saves a
further ~70 ms (the unit tests pass with it) but moves YDIF and freezedetect's noise
against thresholds chosen at 2, so it waits for the false-positive bench.
"""

from __future__ import annotations

import itertools
import math
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg

from pipeline.domain.errors import InternalError, MediaError
from pipeline.domain.quality import (
    FrozenRun,
    QualityThresholds,
    Run,
    SeamQuality,
    SegmentQuality,
)
from pipeline.media.packets import Packets, copy_args, parse_packets
from pipeline.media.probe import probe
from pipeline.media.process import ffmpeg_command, run, stderr_tail

_STAT = "lavfi.signalstats."
_BLACK_START, _BLACK_END = "lavfi.black_start", "lavfi.black_end"
_FREEZE_START, _FREEZE_END = "lavfi.freezedetect.freeze_start", "lavfi.freezedetect.freeze_end"
_SSIM_Y = "lavfi.ssim.Y"
_BEFORE = "pipeline.seam.before"
"""Added to the frames of the segment before a seam, so the joined run tells them apart."""
ANALYSIS_SCALE = 2
"""A segment is analysed at half its width and height (area-averaged): signalstats costs
half as much again as decoding at full size, and means, black pixels and holds do not
need every pixel; YDIF and freezedetect then see a little less encoder noise."""
_SEAM_RATE = 25
"""Any frame rate: the seam's frames are re-timed by index so ``ssim`` pairs them exactly."""
TAIL_CODEC = {"vcodec": "ffv1", "f": "matroska"}
"""The tail clip: lossless, so the next seam sees the frames this pass saw."""


@dataclass(frozen=True)
class Before:
    """The segment before a seam: the tail clip ``measure`` kept of it (``tail``: every
    frame is used, already at the analysis size) or its whole video (its last
    ``seam_neighbours + 1`` frames are used)."""

    path: Path
    tail: bool


@dataclass(frozen=True)
class Measured:
    """What one ``measure`` pass found: the segment's figures, its seam's (None for no
    segment before, or with ``seam_error`` saying why it could not be measured) and the
    tail clip it kept (None when asked for none, or when the segment did not decode to the
    plan's frame count, so the frames kept were not its last)."""

    segment: SegmentQuality
    seam: SeamQuality | None = None
    seam_error: str | None = None
    tail: Path | None = None


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


@dataclass(frozen=True)
class _Seam:
    """The seam branch's inputs: the segment before (its first ``start`` frames skipped),
    this segment's frame ``overlap`` on, ``neighbours + 1`` frames of it, and where the
    branch prints its metadata."""

    before: Before
    start: int
    overlap: int
    neighbours: int
    printed: Path


def _scaled(stream: Any) -> Any:
    return stream.filter("scale", f"iw/{ANALYSIS_SCALE}", f"ih/{ANALYSIS_SCALE}", flags="area")


def _seam_branch(head: Any, seam: _Seam) -> Any:
    tail = ffmpeg.input(str(seam.before.path)).video
    if not seam.before.tail:
        tail = _scaled(tail.trim(start_frame=seam.start))
    tail = tail.setpts("PTS-STARTPTS").filter("metadata", mode="add", key=_BEFORE, value=1)
    end = seam.overlap + seam.neighbours + 1
    head = head.trim(start_frame=seam.overlap, end_frame=end).setpts("PTS-STARTPTS")
    joined = (
        ffmpeg.concat(tail, head, v=1, a=0)
        .setpts(f"N/({_SEAM_RATE}*TB)")
        .filter("signalstats")
        .split()
    )
    following = joined[1].trim(start_frame=1).setpts("PTS-STARTPTS")
    pairs = ffmpeg.filter([joined[0], following], "ssim")
    return pairs.filter("metadata", mode="print", file=str(seam.printed)).output("-", f="null")


def build_command(
    path: Path,
    thresholds: QualityThresholds,
    *,
    listing: Path,
    seam: _Seam | None = None,
    tail: tuple[Path, int] | None = None,
) -> list[str]:
    """One decode of ``path`` printing every frame's black, freeze and signalstats
    metadata to stdout and its packets to ``listing``; with ``seam``, that seam's
    signalstats and SSIM to its file; with ``tail`` (a path and a first frame), the frames
    from there on as a lossless clip."""
    branches = 1 + (seam is not None) + (tail is not None)
    source = ffmpeg.input(str(path))
    scaled = _scaled(source.video)
    split = scaled.split() if branches > 1 else None
    streams = iter([split[i] for i in range(branches)] if split is not None else [scaled])
    analysed = (
        next(streams)
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
    outputs = [analysed.output("-", f="null"), copy_args(source, str(listing))]
    if seam is not None:
        outputs.append(_seam_branch(next(streams), seam))
    if tail is not None:
        last = next(streams).trim(start_frame=tail[1]).setpts("PTS-STARTPTS")
        outputs.append(last.output(str(tail[0]), **TAIL_CODEC))
    return ffmpeg_command(ffmpeg.merge_outputs(*outputs))


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


def _figures(frames: list[_Frame], info: Packets, plan: _Plan) -> SegmentQuality:
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


def _colour(frame: _Frame) -> tuple[float, float, float]:
    return (
        frame.number(_STAT + "YAVG"),
        frame.number(_STAT + "UAVG"),
        frame.number(_STAT + "VAVG"),
    )


def _seam_quality(
    frames: list[_Frame], *, index: int, overlap_frames: int, thresholds: QualityThresholds
) -> SeamQuality:
    """The seam's figures from the joined run's frames; raises ``MediaError`` when the run
    holds no frame on one side of the seam."""
    # The pair across the seam is that of the last frame tagged as the segment before.
    seam_pair = sum(_BEFORE in frame.values for frame in frames) - 1
    if seam_pair < 0:
        raise MediaError("the segment before has no frame to end a seam with")
    if len(frames) < seam_pair + 2:
        raise MediaError(f"no frame past the {overlap_frames} overlap frame(s) for a seam")
    # This segment may hold fewer frames past the overlap than ``neighbours``; the pairs it has.
    colours = [_colour(frame) for frame in frames]
    deltas = [math.dist(a, b) for a, b in itertools.pairwise(colours)]
    # Frame i's SSIM compares it with frame i + 1; the last one's, with itself.
    ssims = [frame.number(_SSIM_Y) for frame in frames[:-1]]
    inside = [i for i in range(len(deltas)) if i != seam_pair]
    return SeamQuality.of(
        index=index,
        after_frame=overlap_frames,
        colour_delta=deltas[seam_pair],
        colour_baseline=statistics.median([deltas[i] for i in inside]) if inside else 0.0,
        ssim=ssims[seam_pair],
        ssim_baseline=statistics.median([ssims[i] for i in inside]) if inside else 1.0,
        neighbours=len(inside),
        thresholds=thresholds,
    )


def _seam_plan(
    before: Before, overlap_frames: int, thresholds: QualityThresholds, printed: Path
) -> _Seam:
    """The seam branch for ``before``; raises ``MediaError`` when its video cannot be probed
    or holds no frame (a tail clip is read whole, with no probe)."""
    neighbours = thresholds.seam_neighbours
    if before.tail:
        return _Seam(before, 0, overlap_frames, neighbours, printed)
    before_frames = probe(before.path, decode=False).frame_count or 0
    if before_frames < 1:
        raise MediaError(f"{before.path.name} has no frame to end a seam with")
    start = max(before_frames - neighbours - 1, 0)
    return _Seam(before, start, overlap_frames, neighbours, printed)


def measure(
    path: Path,
    *,
    expected_frames: int,
    fps: float,
    expect_audio: bool,
    thresholds: QualityThresholds,
    index: int = 0,
    before: Before | None = None,
    overlap_frames: int = 0,
    keep_tail: Path | None = None,
) -> Measured:
    """The figures of one segment video (``index`` is its place in the plan) and, with
    ``before``, of its seam at frame ``overlap_frames``, in one decode; with ``keep_tail``,
    its last ``seam_neighbours + 1`` frames written there for the next seam.

    Raises ``InternalError`` only when ffmpeg prints metadata this module cannot read.
    """
    plan = _Plan(index, expected_frames, fps, expect_audio)
    start = max(expected_frames - thresholds.seam_neighbours - 1, 0)
    tail = (keep_tail, start) if keep_tail is not None else None
    with tempfile.TemporaryDirectory(prefix="quality-") as folder:
        listing = Path(folder) / "packets.txt"
        seam_error: str | None = None
        seam: _Seam | None = None
        if before is not None:
            try:
                seam = _seam_plan(before, overlap_frames, thresholds, Path(folder) / "seam.txt")
            except MediaError as error:
                seam_error = error.message
        done = run(build_command(path, thresholds, listing=listing, seam=seam, tail=tail))
        if done.returncode != 0 and seam is not None:
            # The segment before may be what ffmpeg cannot read: this one's figures alone.
            seam_error = stderr_tail(done.stderr, lines=1)
            seam = None
            done = run(build_command(path, thresholds, listing=listing, tail=tail))
        frames = parse_metadata(done.stdout.decode("utf-8", errors="replace"))
        if done.returncode != 0 or not frames:
            reason = stderr_tail(done.stderr, lines=1).replace(str(path), path.name)
            if keep_tail is not None:
                keep_tail.unlink(missing_ok=True)
            return Measured(plan.unreadable(reason or "no frame decoded"))
        try:
            figures = _figures(frames, parse_packets(listing.read_text("utf-8")), plan)
        except (KeyError, ValueError) as exc:
            raise InternalError(f"unexpected ffmpeg metadata for {path.name}: {exc}") from exc
        seam_figures: SeamQuality | None = None
        if seam is not None:
            try:
                seam_figures = _seam_quality(
                    parse_metadata(seam.printed.read_text("utf-8", errors="replace")),
                    index=index,
                    overlap_frames=overlap_frames,
                    thresholds=thresholds,
                )
            except MediaError as error:
                seam_error = error.message
            except (KeyError, ValueError) as exc:
                raise InternalError(f"unexpected ffmpeg seam metadata: {exc}") from exc
    # The tail branch took the frames from ``start`` on: the last ones only at the plan's count.
    kept = keep_tail if keep_tail is not None and len(frames) == expected_frames else None
    if keep_tail is not None and kept is None:
        keep_tail.unlink(missing_ok=True)
    return Measured(figures, seam_figures, seam_error, kept)
