"""The judgement: figures held against thresholds, one ``Failure`` per failed check."""

from __future__ import annotations

from pydantic import Field

from pipeline.domain.quality.figures import Figures, Measure, Run, SeamQuality, SegmentQuality
from pipeline.domain.quality.thresholds import QualityThresholds


class Failure(Figures):
    """One failed check: the figure, the limit it crossed, and a sentence for people."""

    measure: Measure
    value: float
    threshold: float
    message: str


class QualityReport(Figures):
    """The gate's output for one segment (``generations/{run}/quality/segment_000.json``)."""

    segment: SegmentQuality
    seam: SeamQuality | None = Field(
        default=None, description="With the segment before; None for the first segment."
    )
    failures: tuple[Failure, ...] = ()
    passed: bool
    attempt: int = Field(default=0, ge=0, description="0 for the first render, n for re-render n.")

    @classmethod
    def judged(
        cls,
        segment: SegmentQuality,
        seam: SeamQuality | None,
        thresholds: QualityThresholds,
        *,
        attempt: int = 0,
    ) -> QualityReport:
        failures = tuple(judge(segment, seam, thresholds))
        return cls(
            segment=segment, seam=seam, failures=failures, passed=not failures, attempt=attempt
        )


def judge(
    segment: SegmentQuality, seam: SeamQuality | None, thresholds: QualityThresholds
) -> list[Failure]:
    """Every check ``segment`` and its ``seam`` fail, in a fixed order; empty when all pass.

    A segment that cannot be decoded fails ``decodable`` alone (nothing else was measured).
    """
    name = f"segment {segment.index + 1}"
    if not segment.decodable:
        why = f": {segment.error}" if segment.error else ""
        return [
            Failure(
                measure=Measure.DECODABLE,
                value=0,
                threshold=1,
                message=f"{name}: the video cannot be decoded{why}",
            )
        ]
    failures = [*_frames(segment, name), *_black(segment, thresholds, name)]
    failures += _frozen(segment, thresholds, name)
    failures += _audio(segment, thresholds, name)
    if seam is not None:
        failures += _seam(seam, thresholds)
    return failures


def _frames(segment: SegmentQuality, name: str) -> list[Failure]:
    if segment.frames == segment.expected_frames:
        return []
    message = f"{name}: {segment.frames} frames, the plan needs {segment.expected_frames}"
    return [
        Failure(
            measure=Measure.FRAMES,
            value=segment.frames,
            threshold=segment.expected_frames,
            message=message,
        )
    ]


def _black(segment: SegmentQuality, thresholds: QualityThresholds, name: str) -> list[Failure]:
    if segment.black_ratio <= thresholds.max_black_ratio or not segment.black_runs:
        return []
    first = segment.black_runs[0]
    message = (
        f"{name}: {segment.black_frames} of {segment.frames} frames black, "
        f"from {first.start_s:.2f} s"
    )
    return [
        Failure(
            measure=Measure.BLACK,
            value=segment.black_ratio,
            threshold=thresholds.max_black_ratio,
            message=message,
        )
    ]


def _black_frames_in(run: Run, segment: SegmentQuality) -> int:
    return sum(
        max(0, min(run.end_frame, black.end_frame) - max(run.start_frame, black.start_frame))
        for black in segment.black_runs
    )


def _frozen(segment: SegmentQuality, thresholds: QualityThresholds, name: str) -> list[Failure]:
    baseline = segment.motion_baseline
    if baseline is None or baseline < thresholds.min_motion:
        return []
    failures = []
    for run in segment.frozen_runs:
        # A black run is a frozen one too; the black check reports it.
        if 2 * _black_frames_in(run, segment) > run.frames:
            continue
        ratio = run.motion / baseline
        if ratio >= thresholds.frozen_motion_ratio:
            continue
        message = (
            f"{name}: frozen for {run.duration_s:.2f} s from {run.start_s:.2f} s "
            f"(motion {run.motion:.2f} against {baseline:.2f} elsewhere in the segment)"
        )
        failures.append(
            Failure(
                measure=Measure.FROZEN,
                value=ratio,
                threshold=thresholds.frozen_motion_ratio,
                message=message,
            )
        )
    return failures


def _audio(segment: SegmentQuality, thresholds: QualityThresholds, name: str) -> list[Failure]:
    if not segment.audio_expected:
        return []
    tolerance_s = thresholds.audio_tolerance_frames / segment.fps
    if not segment.audio_present or segment.audio_duration_s is None:
        return [
            Failure(
                measure=Measure.AUDIO,
                value=0,
                threshold=tolerance_s,
                message=f"{name}: no audio track",
            )
        ]
    drift = abs(segment.audio_duration_s - segment.expected_duration_s)
    if drift <= tolerance_s + 1e-6:
        return []
    message = (
        f"{name}: audio lasts {segment.audio_duration_s:.2f} s, the video "
        f"{segment.expected_duration_s:.2f} s (up to {tolerance_s:.3f} s apart allowed)"
    )
    return [Failure(measure=Measure.AUDIO, value=drift, threshold=tolerance_s, message=message)]


def _seam(seam: SeamQuality, thresholds: QualityThresholds) -> list[Failure]:
    name = f"seam before segment {seam.index + 1}"
    failures = []
    if seam.colour_ratio > thresholds.max_seam_colour_ratio:
        message = (
            f"{name}: the colour jumps by {seam.colour_delta:.1f} levels, "
            f"{seam.colour_ratio:.1f}x the change between neighbouring frames "
            f"(at most {thresholds.max_seam_colour_ratio:g}x)"
        )
        failures.append(
            Failure(
                measure=Measure.SEAM_COLOUR,
                value=seam.colour_ratio,
                threshold=thresholds.max_seam_colour_ratio,
                message=message,
            )
        )
    if seam.structure_ratio > thresholds.max_seam_structure_ratio:
        message = (
            f"{name}: the picture changes {seam.structure_ratio:.1f}x as much as between "
            f"neighbouring frames (SSIM {seam.ssim:.2f} against {seam.ssim_baseline:.2f}; "
            f"at most {thresholds.max_seam_structure_ratio:g}x)"
        )
        failures.append(
            Failure(
                measure=Measure.SEAM_STRUCTURE,
                value=seam.structure_ratio,
                threshold=thresholds.max_seam_structure_ratio,
                message=message,
            )
        )
    return failures
