"""The quality gate's rules: thresholds, the figures measured on a segment and a seam, and
the judgement. Pure, no I/O; ``pipeline.media.quality`` measures with ffmpeg's filters.

Every GPU segment (an i2v segment, the s2v chunk set, an InfiniteTalk window) is measured
(:class:`SegmentQuality`) and so is its seam with the segment before it
(:class:`SeamQuality`); :func:`judge` holds the figures against a preset's
:class:`QualityThresholds` and returns one :class:`Failure` per measure that fails, and a
:class:`QualityReport` carries it all into ``result.json``, the Temporal UI, ``pipeline
status``, the callback and the metrics. Every figure is kept whether it passes or not.

Units: luma, chroma and saturation are 8-bit levels (0-255) as ffmpeg's ``signalstats``
reports them; motion is ``signalstats``' ``YDIF``, the mean absolute luma difference to
the previous frame in levels; SSIM is ffmpeg's ``ssim`` filter on luma (1 = identical).
Frame numbers and ``index`` are 0-based like the layout's ``segment_000``; messages count
segments from 1, as the Temporal UI's "segment 2/4" does.

A still picture is not a defect: a frozen run counts only against motion the same segment
shows elsewhere, and a seam only against the change between neighbouring frames inside the
segments beside it, so a talking portrait that never moves passes (issue 21).

Modules: ``thresholds`` (``QcPolicy``, ``QualityThresholds``), ``figures`` (what is
measured: ``SegmentQuality``, ``SeamQuality``), ``judge`` (``Failure``, ``QualityReport``,
``judge``). ``pipeline.domain.quality_captions`` puts the figures in words for the
contact sheet (beside this package: it reads the frame plan, which reads the manifest,
which reads ``QcPolicy`` from here).
"""

from pipeline.domain.quality.figures import FrozenRun, Measure, Run, SeamQuality, SegmentQuality
from pipeline.domain.quality.judge import Failure, QualityReport, judge
from pipeline.domain.quality.thresholds import DEFAULT_QC_POLICY, QcPolicy, QualityThresholds

__all__ = [
    "DEFAULT_QC_POLICY",
    "Failure",
    "FrozenRun",
    "Measure",
    "QcPolicy",
    "QualityReport",
    "QualityThresholds",
    "Run",
    "SeamQuality",
    "SegmentQuality",
    "judge",
]
