"""``judge``: figures against thresholds, by hand-made figures (no ffmpeg)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.domain.quality import (
    FrozenRun,
    Measure,
    QualityReport,
    QualityThresholds,
    Run,
    SeamQuality,
    SegmentQuality,
    judge,
)

DEFAULTS = QualityThresholds()
FPS = 16.0


def _segment(**changes: Any) -> SegmentQuality:
    figures: dict[str, Any] = {
        "index": 1,
        "decodable": True,
        "frames": 81,
        "expected_frames": 81,
        "fps": FPS,
        "motion_baseline": 3.0,
        "expected_duration_s": 81 / FPS,
    }
    return SegmentQuality(**{**figures, **changes})


def _run(start: int, frames: int, **extra: Any) -> dict[str, Any]:
    return {
        "start_frame": start,
        "frames": frames,
        "start_s": start / FPS,
        "duration_s": frames / FPS,
        **extra,
    }


def _seam(**changes: Any) -> SeamQuality:
    figures: dict[str, Any] = {
        "index": 1,
        "after_frame": 1,
        "colour_delta": 0.4,
        "colour_baseline": 0.5,
        "ssim": 0.9,
        "ssim_baseline": 0.9,
        "neighbours": 8,
    }
    return SeamQuality.of(**{**figures, **changes}, thresholds=DEFAULTS)


def _measures(segment: SegmentQuality, seam: SeamQuality | None = None) -> list[Measure]:
    return [failure.measure for failure in judge(segment, seam, DEFAULTS)]


def test_clean_figures_pass() -> None:
    assert judge(_segment(), _seam(), DEFAULTS) == []


def test_an_undecodable_segment_fails_decodable_alone() -> None:
    segment = _segment(decodable=False, frames=0, error="moov atom not found")

    (failure,) = judge(segment, _seam(colour_delta=50.0), DEFAULTS)

    assert failure.measure is Measure.DECODABLE
    assert failure.message == "segment 2: the video cannot be decoded: moov atom not found"


def test_a_frame_count_off_the_plan_fails_frames() -> None:
    (failure,) = judge(_segment(frames=77), None, DEFAULTS)

    assert (failure.measure, failure.value, failure.threshold) == (Measure.FRAMES, 77, 81)
    assert failure.message == "segment 2: 77 frames, the plan needs 81"


def test_black_fails_above_the_ratio_only() -> None:
    all_black = _segment(
        black_frames=81, black_ratio=1.0, longest_black_run=81, black_runs=(Run(**_run(0, 81)),)
    )
    few = _segment(black_frames=4, black_ratio=4 / 81, black_runs=(Run(**_run(10, 4)),))

    (failure,) = judge(all_black, None, DEFAULTS)
    assert failure.measure is Measure.BLACK
    assert failure.message == "segment 2: 81 of 81 frames black, from 0.00 s"
    assert _measures(few) == []


def test_a_hold_fails_frozen_when_the_segment_moves_elsewhere() -> None:
    hold = FrozenRun(**_run(40, 41, motion=0.01))

    (failure,) = judge(_segment(frozen_runs=(hold,)), None, DEFAULTS)

    assert failure.measure is Measure.FROZEN
    assert failure.value == pytest.approx(0.01 / 3.0)
    assert failure.message == (
        "segment 2: frozen for 2.56 s from 2.50 s (motion 0.01 against 3.00 elsewhere in the "
        "segment)"
    )


@pytest.mark.parametrize(
    ("baseline", "motion"),
    [(None, 0.0), (0.3, 0.0), (3.0, 0.5)],
    ids=["still-throughout", "barely-moving-elsewhere", "moving-in-the-run"],
)
def test_a_hold_passes_when_the_content_explains_it(baseline: float | None, motion: float) -> None:
    hold = FrozenRun(
        **_run(0 if baseline is None else 40, 81 if baseline is None else 41, motion=motion)
    )

    assert _measures(_segment(frozen_runs=(hold,), motion_baseline=baseline)) == []


def test_a_black_hold_is_reported_as_black_not_frozen() -> None:
    black = Run(**_run(40, 41))
    segment = _segment(
        black_frames=41,
        black_ratio=41 / 81,
        longest_black_run=41,
        black_runs=(black,),
        frozen_runs=(FrozenRun(**_run(39, 42, motion=0.0)),),
    )

    assert _measures(segment) == [Measure.BLACK]


@pytest.mark.parametrize(
    ("present", "seconds", "failed"),
    [
        (True, 81 / FPS + 0.05, []),
        (True, 81 / FPS - 1 / FPS, []),
        (True, 81 / FPS - 2 / FPS, [Measure.AUDIO]),
        (False, None, [Measure.AUDIO]),
    ],
    ids=["within-a-frame-long", "a-frame-short", "two-frames-short", "missing"],
)
def test_audio_must_last_the_segment_within_a_frame(
    present: bool, seconds: float | None, failed: list[Measure]
) -> None:
    segment = _segment(audio_expected=True, audio_present=present, audio_duration_s=seconds)

    assert _measures(segment) == failed


def test_audio_is_not_judged_where_none_is_expected() -> None:
    assert _measures(_segment(audio_expected=False, audio_present=False)) == []


def test_missing_audio_says_so() -> None:
    (failure,) = judge(_segment(audio_expected=True), None, DEFAULTS)

    assert failure.message == "segment 2: no audio track"


def test_seam_ratios_hold_the_jump_against_the_neighbours_or_the_floor() -> None:
    busy = _seam(colour_delta=6.0, colour_baseline=2.0, ssim=0.7, ssim_baseline=0.9)
    still = _seam(colour_delta=0.5, colour_baseline=0.0, ssim=0.99, ssim_baseline=1.0)

    assert busy.colour_ratio == pytest.approx(3.0)
    assert busy.structure_ratio == pytest.approx(3.0)
    assert still.colour_ratio == pytest.approx(0.5 / DEFAULTS.seam_colour_floor)
    assert still.structure_ratio == pytest.approx(0.01 / DEFAULTS.seam_structure_floor)


def test_a_colour_jump_at_a_seam_fails_seam_colour() -> None:
    (failure,) = judge(_segment(), _seam(colour_delta=12.0), DEFAULTS)

    assert failure.measure is Measure.SEAM_COLOUR
    assert failure.message == (
        "seam before segment 2: the colour jumps by 12.0 levels, 12.0x the change between "
        "neighbouring frames (at most 3x)"
    )


def test_a_structure_jump_at_a_seam_fails_seam_structure() -> None:
    (failure,) = judge(_segment(), _seam(ssim=0.5, ssim_baseline=0.95), DEFAULTS)

    assert failure.measure is Measure.SEAM_STRUCTURE
    assert failure.value == pytest.approx(10.0)
    assert "SSIM 0.50 against 0.95" in failure.message


def test_the_report_says_whether_it_passed_and_survives_json() -> None:
    failed = QualityReport.judged(_segment(frames=80), _seam(), DEFAULTS, attempt=1)
    passed = QualityReport.judged(_segment(), None, DEFAULTS)

    assert (failed.passed, [f.measure for f in failed.failures]) == (False, [Measure.FRAMES])
    assert (passed.passed, passed.failures) == (True, ())
    assert QualityReport.model_validate_json(failed.model_dump_json()) == failed
    assert failed.model_dump(mode="json")["failures"][0]["measure"] == "frames"


def test_thresholds_refuse_unknown_and_out_of_range_values() -> None:
    with pytest.raises(ValidationError, match="max_blak_ratio"):
        QualityThresholds.model_validate({"max_blak_ratio": 0.1})
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        QualityThresholds(max_black_ratio=1.5)


def test_every_threshold_is_documented_with_its_reason() -> None:
    for name, field in QualityThresholds.model_fields.items():
        assert field.description, name
        assert len(field.description) > 40, name
