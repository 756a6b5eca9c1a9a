"""The quality figures in words, as the contact sheet writes them under its pairs. Pure.

The last report of a segment is the attempt that was kept (``SessionWorkflow`` appends one
per attempt); a seam's caption comes from the report of the segment after it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.domain.frames.plan import FramePlan
from pipeline.domain.frames.seams import seams
from pipeline.domain.quality.judge import QualityReport


def kept_reports(reports: Sequence[QualityReport] | None) -> dict[int, QualityReport]:
    """Segment index → the report of its kept attempt (the last one checked)."""
    return {report.segment.index: report for report in reports or ()}


def seam_captions(
    plan: FramePlan, reports: Sequence[QualityReport] | None
) -> tuple[tuple[str, ...], ...]:
    """One tuple of lines per seam of ``plan`` (``frames.seams``), ``()`` without reports:
    colour jump and SSIM across the seam against the neighbours', and the verdict."""
    if reports is None:
        return ()
    kept = kept_reports(reports)
    captions: list[tuple[str, ...]] = []
    for seam in seams(plan):
        report = kept.get(seam.segment_after)
        figures = report.seam if report is not None else None
        if report is None or figures is None:
            captions.append(("not measured",))
            continue
        captions.append(
            (
                f"colour jump {figures.colour_delta:.1f} (x{figures.colour_ratio:.1f} of "
                f"neighbours {figures.colour_baseline:.1f})",
                f"SSIM {figures.ssim:.3f} (neighbours {figures.ssim_baseline:.3f}, "
                f"x{figures.structure_ratio:.1f})",
                _verdict(report),
            )
        )
    return tuple(captions)


def run_captions(reports: Sequence[QualityReport] | None) -> tuple[str, ...]:
    """Lines under the first/last pair: segments passed, re-rendered, and any failure kept."""
    if reports is None:
        return ()
    kept = kept_reports(reports)
    rerendered = sorted({r.segment.index + 1 for r in reports if r.attempt > 0})
    lines = [f"quality: {sum(r.passed for r in kept.values())}/{len(kept)} segments passed"]
    if rerendered:
        lines.append(f"re-rendered: segment {', '.join(map(str, rerendered))}")
    lines += [f.message for r in kept.values() for f in r.failures]
    return tuple(lines)


def _verdict(report: QualityReport) -> str:
    attempt = f" (re-render {report.attempt})" if report.attempt else ""
    if report.passed:
        return f"passed{attempt}"
    return f"failed{attempt}: " + ", ".join(f.measure.value for f in report.failures)
