"""Sampler steps and ETA of one segment from ComfyUI progress (pipeline.comfy.steps)."""

from __future__ import annotations

from pipeline.comfy.steps import SegmentSteps
from pipeline.comfy.watch import Progress


def progress(node: str, class_type: str, value: float, maximum: float) -> Progress:
    return Progress(node, class_type, value, maximum, nodes_done=0, nodes_total=9)


def test_two_experts_count_one_segment_wide_step_total_and_time_each_step() -> None:
    steps = SegmentSteps(segment=1, steps_hint=4, worker="gpu-a")
    steps.update(progress("7", "KSamplerAdvanced", 0.0, 1.0), now=0.0)  # executing
    steps.update(progress("7", "KSamplerAdvanced", 1, 2), now=5.0)  # load + first step
    steps.update(progress("7", "KSamplerAdvanced", 2, 2), now=7.0)
    steps.update(progress("8", "KSamplerAdvanced", 0.0, 1.0), now=7.5)
    report = steps.update(progress("8", "KSamplerAdvanced", 1, 2), now=9.5)

    assert (report.node, report.step, report.steps) == ("KSamplerAdvanced", 3, 4)
    assert report.seconds_per_step == 2.0  # The first interval held the model load.
    assert report.eta_s == 2.0
    assert (report.segment, report.worker) == (1, "gpu-a")


def test_other_nodes_keep_the_step_count_and_a_windowed_sampler_raises_the_total() -> None:
    steps = SegmentSteps(segment=0, steps_hint=4)
    steps.update(progress("3", "WanVideoSampler", 6, 12), now=1.0)
    report = steps.update(progress("9", "VAEDecode", 0.0, 1.0), now=2.0)

    assert (report.node, report.step, report.steps) == ("VAEDecode", 6, 12)
    assert report.eta_s is None  # One observation is no interval.


def test_nothing_seen_yet_reports_step_zero() -> None:
    report = SegmentSteps(segment=2, steps_hint=6).report()
    assert (report.node, report.step, report.steps, report.eta_s) == ("", 0, 6, None)
