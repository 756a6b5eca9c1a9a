"""What the gate measures on a segment and on its seam with the segment before it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from pipeline.domain.quality.thresholds import QualityThresholds


class Measure(StrEnum):
    """The stable name of each check: a ``Failure``'s ``measure`` and a metrics label."""

    DECODABLE = "decodable"
    FRAMES = "frames"
    BLACK = "black"
    FROZEN = "frozen"
    AUDIO = "audio"
    SEAM_COLOUR = "seam_colour"
    SEAM_STRUCTURE = "seam_structure"


class Figures(BaseModel):
    """What the figure models share: frozen; unknown keys ignored, so a reader of an
    earlier build parses a newer record (fields are only added, with defaults)."""

    model_config = ConfigDict(frozen=True)


class Run(Figures):
    """Consecutive frames of one kind (black, frozen)."""

    start_frame: int = Field(ge=0)
    frames: int = Field(ge=1)
    start_s: float = Field(ge=0)
    duration_s: float = Field(ge=0)

    @property
    def end_frame(self) -> int:
        """One past the run's last frame."""
        return self.start_frame + self.frames


class FrozenRun(Run):
    """A run freezedetect found, with the motion measured inside it."""

    motion: float = Field(ge=0, description="Mean YDIF of the run's frames after its first.")


class SegmentQuality(Figures):
    """What was measured on one segment; a file that cannot be decoded has
    ``decodable`` false, ``error`` set and zeros elsewhere."""

    index: int = Field(ge=0)
    decodable: bool
    error: str | None = Field(default=None, description="Why it could not be decoded.")
    frames: int = Field(default=0, ge=0, description="Frames decoded.")
    expected_frames: int = Field(ge=0, description="Frames the plan gives the segment.")
    fps: float = Field(gt=0, description="The plan's frame rate.")
    width: int | None = None
    height: int | None = None
    black_frames: int = Field(default=0, ge=0)
    black_ratio: float = Field(default=0.0, ge=0, le=1)
    longest_black_run: int = Field(default=0, ge=0, description="Frames.")
    black_runs: tuple[Run, ...] = ()
    frozen_runs: tuple[FrozenRun, ...] = ()
    motion_baseline: float | None = Field(
        default=None,
        description="Median YDIF of the frames outside every frozen run; None when no frame "
        "is (the whole segment holds still).",
    )
    mean_luma: float = Field(default=0.0, description="Mean YAVG, levels.")
    mean_saturation: float = Field(default=0.0, description="Mean SATAVG, levels.")
    audio_expected: bool = False
    audio_present: bool = False
    audio_duration_s: float | None = None
    expected_duration_s: float = Field(ge=0, description="expected_frames / fps.")


class SeamQuality(Figures):
    """The seam between segment ``index - 1``'s last frame and the first frame of segment
    ``index`` the stitched video keeps (``after_frame``, past the re-rendered overlap)."""

    index: int = Field(ge=1, description="The segment after the seam.")
    after_frame: int = Field(ge=0, description="Its frame compared: the overlap it drops.")
    colour_delta: float = Field(ge=0, description="Distance of mean (Y, U, V) across, levels.")
    colour_baseline: float = Field(ge=0, description="Median of it between neighbours.")
    colour_ratio: float = Field(ge=0, description="delta / max(baseline, floor).")
    ssim: float = Field(description="Luma SSIM across the seam.")
    ssim_baseline: float = Field(description="Median luma SSIM between neighbours.")
    structure_ratio: float = Field(ge=0, description="(1 - ssim) / max(1 - baseline, floor).")
    neighbours: int = Field(ge=0, description="Neighbouring pairs in the baselines.")

    @classmethod
    def of(
        cls,
        *,
        index: int,
        after_frame: int,
        colour_delta: float,
        colour_baseline: float,
        ssim: float,
        ssim_baseline: float,
        neighbours: int,
        thresholds: QualityThresholds,
    ) -> SeamQuality:
        """The figures with their ratios against ``thresholds``' floors."""
        dissimilarity = max(0.0, 1.0 - ssim)
        baseline = max(1.0 - ssim_baseline, thresholds.seam_structure_floor)
        return cls(
            index=index,
            after_frame=after_frame,
            colour_delta=colour_delta,
            colour_baseline=colour_baseline,
            colour_ratio=colour_delta / max(colour_baseline, thresholds.seam_colour_floor),
            ssim=ssim,
            ssim_baseline=ssim_baseline,
            structure_ratio=dissimilarity / baseline,
            neighbours=neighbours,
        )
