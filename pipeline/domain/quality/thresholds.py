"""What a preset allows: the gate's policy and thresholds, each default with its reason."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class QcPolicy(StrEnum):
    """What a failed quality check does; a preset's ``qc``, a manifest's ``qc`` overrides it."""

    OFF = "off"
    """Nothing is measured."""
    REPORT = "report"
    """Measured and recorded; a failure is recorded and the session still succeeds."""
    RERENDER = "rerender"
    """The default: a failed segment (and the segments continuing from it) is rendered
    again with a new seed, at most ``QualityThresholds.rerender_attempts`` times; then the
    session fails with ``quality_failed``."""
    FAIL = "fail"
    """The first failure fails the session with ``quality_failed``."""


DEFAULT_QC_POLICY = QcPolicy.RERENDER


class QualityThresholds(BaseModel):
    """A preset's quality thresholds (``[preset.quality]`` in a presets file).

    The defaults were set on ffmpeg-made clips (``tests/unit/test_media_quality.py``): they
    catch all-black and half-black segments, a freeze after motion, a tint or unrelated
    content at a seam, a frame count off the plan and short or missing audio, and pass
    moving content, a slow pan, a still portrait (with or without noise) and a seam inside
    one continuous clip.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_black_ratio: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Fraction of a segment's frames that may be black. 0.05 lets 4 of 81 "
        "frames be (a quarter second at 16 fps: a blink of a fade or a dark cut), while a "
        "VAE or sampler collapse blacks out far more.",
    )
    black_pixel_threshold: float = Field(
        default=0.10,
        gt=0,
        lt=1,
        description="blackdetect pix_th: a pixel darker than this fraction of the luma "
        "range is black. ffmpeg's default.",
    )
    black_picture_ratio: float = Field(
        default=0.98,
        gt=0,
        le=1,
        description="blackdetect pic_th: a frame is black when this fraction of its pixels "
        "is. ffmpeg's default; a night scene keeps more than 2 % of its pixels lit.",
    )
    freeze_noise_db: float = Field(
        default=-50.0,
        lt=0,
        description="freezedetect noise, dB of the full range: frames differing from the "
        "run's first frame by less (mean absolute difference) are frozen. -50 dB is about 0.8 "
        "of 255 levels: ffmpeg's -60 dB (0.26 levels) misses a frozen window that still "
        "jitters by a decoder's rounding.",
    )
    freeze_min_s: float = Field(
        default=1.0,
        gt=0,
        description="freezedetect duration, seconds: shorter holds are not frozen runs. A "
        "fifth of an 81-frame segment at 16 fps, a second of a 25 fps window.",
    )
    frozen_motion_ratio: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="A frozen run fails when its motion (mean YDIF) is below this fraction "
        "of the segment's own motion outside its frozen runs: a tenth, since a real hold "
        "after movement drops motion to encoder noise (about 0.01 of it on the test clips).",
    )
    min_motion: float = Field(
        default=0.5,
        ge=0,
        description="Levels of YDIF: a segment moving less than this outside its frozen runs "
        "is still content (a portrait, a slow pan of a flat scene), and its holds are not "
        "judged. Moving content measures 2-6 levels, a still image under 0.1.",
    )
    seam_neighbours: int = Field(
        default=4,
        ge=1,
        le=16,
        description="Neighbouring-frame pairs taken on each side of a seam for its baseline "
        "(the median of them): a quarter second at 16 fps, near enough to share the seam's "
        "content.",
    )
    max_seam_colour_ratio: float = Field(
        default=3.0,
        gt=1,
        description="A seam fails when its colour jump (the distance between the mean "
        "Y/U/V of the frames either side) is more than this many times the baseline. "
        "Seams inside one clip measure about 1x; a tint or a cut measures 5-30x.",
    )
    seam_colour_floor: float = Field(
        default=1.0,
        gt=0,
        description="Levels: the smallest colour baseline a seam is held against, so a "
        "still picture (baseline about 0) fails only on a jump over 3 levels (about 1 % "
        "of the range, a visible flash on flat skin or sky).",
    )
    max_seam_structure_ratio: float = Field(
        default=3.0,
        gt=1,
        description="A seam fails when its dissimilarity (1 - SSIM) is more than this many "
        "times the baseline's. Seams inside one clip measure about 1x; unrelated content "
        "5-10x.",
    )
    seam_structure_floor: float = Field(
        default=0.02,
        gt=0,
        lt=1,
        description="The smallest dissimilarity (1 - SSIM) a seam is held against, so a "
        "still picture (baseline about 0) fails only below SSIM 0.94, which encoding "
        "noise never reaches.",
    )
    audio_tolerance_frames: float = Field(
        default=1.0,
        ge=0,
        description="Frames the audio may be longer or shorter than the segment (issue 21: "
        "+/-1 frame; an AAC packet is 21-23 ms, under a frame at 25 fps).",
    )
    rerender_attempts: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Re-renders of a failed segment under qc = rerender before the session "
        "fails (issue 21's default).",
    )
