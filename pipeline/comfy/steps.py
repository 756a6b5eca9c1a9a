"""Sampler steps of one segment, from ComfyUI's progress, with an ETA from measured steps.

ComfyUI reports each node's ProgressBar as ``progress`` messages (``value``/``max``); a
sampler's bar counts its sampling steps. A segment can have more than one sampler node
(Wan 2.2 splits the steps between a high-noise and a low-noise expert, one
``KSamplerAdvanced`` each), so the segment's step is the sum over its sampler nodes and
its step count is the manifest's ``steps`` or, when the samplers report more (windowed
models sample once per window), their sum. Pure: the caller supplies the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.comfy.watch import Progress
from pipeline.domain.contracts import SegmentProgress

SAMPLER = re.compile(r"(KSampler|Sampler|SamplerCustom)(Advanced)?$")
"""class_types that sample: KSampler, KSamplerAdvanced, WanVideoSampler, SamplerCustom…"""


@dataclass
class _Bar:
    value: float = 0.0
    max: float = 0.0
    last_at: float | None = None
    intervals: list[float] = field(default_factory=list)


@dataclass
class SegmentSteps:
    """Feed it every ``Progress`` of one segment's prompt; ``report`` says where it stands."""

    segment: int
    steps_hint: int
    worker: str = ""
    updated_at: float = float("-inf")
    """When the last progress came (the caller's clock)."""
    _bars: dict[str, _Bar] = field(default_factory=dict)
    _latest: Progress | None = None

    def update(self, progress: Progress, now: float) -> SegmentProgress:
        self._latest, self.updated_at = progress, now
        if SAMPLER.search(progress.class_type):
            bar = self._bars.setdefault(progress.node, _Bar())
            if bar.last_at is not None and progress.value > bar.value:
                bar.intervals.append((now - bar.last_at) / (progress.value - bar.value))
            if bar.last_at is None or progress.value > bar.value:
                bar.last_at = now
            bar.value = max(bar.value, progress.value)
            if progress.max > 1:
                bar.max = progress.max
        return self.report()

    def report(self) -> SegmentProgress:
        latest = self._latest
        step = int(sum(bar.value for bar in self._bars.values()))
        steps = max(self.steps_hint, int(sum(bar.max for bar in self._bars.values())))
        per_step = self.seconds_per_step()
        eta = None if per_step is None else round(max(steps - step, 0) * per_step, 1)
        return SegmentProgress(
            segment=self.segment,
            node=latest.class_type if latest else "",
            class_type=latest.class_type if latest else "",
            value=latest.value if latest else 0.0,
            max=latest.max if latest else 1.0,
            step=step,
            steps=steps,
            nodes_done=latest.nodes_done if latest else 0,
            nodes_total=latest.nodes_total if latest else 0,
            seconds_per_step=per_step,
            eta_s=eta,
            worker=self.worker,
        )

    def seconds_per_step(self) -> float | None:
        """Mean measured step time. A bar's first interval also holds the model load, so it
        counts only while no later interval exists."""
        later = [s for bar in self._bars.values() for s in bar.intervals[1:]]
        measured = later or [s for bar in self._bars.values() for s in bar.intervals[:1]]
        return round(sum(measured) / len(measured), 3) if measured else None
