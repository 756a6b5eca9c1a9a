"""Sampler steps of one segment, from ComfyUI's progress, with an ETA from measured steps.

ComfyUI reports each node's ProgressBar as ``progress`` messages (``value``/``max``); a
sampler's bar counts its sampling steps. A segment can have more than one sampler node
(Wan 2.2 splits the steps between a high-noise and a low-noise expert, one
``KSamplerAdvanced`` each), so the segment's step is the sum over its sampler nodes and
its step count is the graph's (``graph_steps``: what its sampler nodes are told to run,
so the two chunks of an S2V segment count 2 x 4), else the manifest's ``steps``, or, when
the samplers report more (windowed models sample once per window), their sum.

``progress`` is not one message per step: ComfyUI 0.33.0 (comfy_execution/progress.py)
sends at most one per 100 ms and per 0.5 % of the bar, the first and the last always, so a
4- or 6-step sampler on a fast GPU sends 2. The ETA rule therefore never counts messages:

- seconds per step = (time of a sampler's last ``progress`` - time of its first) /
  (its last value - its first value), summed over the segment's sampler nodes before
  dividing (a bar measured over 3 steps weighs 3 times a bar measured over 1). The
  ``executing`` that starts a sampler is no measurement: the model's move to the device
  happens between it and the first step, which is why the first message starts the clock
  instead of ending a step.
- ETA = (the segment's steps - steps done) x seconds per step: the sampling left.
- None (nothing shown) until some sampler has sent two ``progress`` messages with
  different values: a 4-step sampler that sent only ``1/4`` has told nothing of its pace.

Pure: the caller supplies the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.comfy.doing import SAMPLER, SUBMITTED, node_doing, queued
from pipeline.comfy.watch import Event, Progress, Queued
from pipeline.domain.contracts import SegmentProgress


def graph_steps(graph: dict[str, Any]) -> int | None:
    """The sampling steps ``graph`` runs: the sum over its sampler nodes, None when a sampler's
    count cannot be read from literal inputs.

    ``KSampler``: ``steps``; ``KSamplerAdvanced``: ``min(end_at_step, steps) -
    start_at_step`` (ComfyUI 0.33.0 nodes.py ``common_ksampler``); any other sampler: the
    ``steps`` of the scheduler node its ``sigmas`` come from (``BasicScheduler``).
    """
    total = 0
    for node in graph.values():
        class_type, inputs = str(node.get("class_type", "")), node.get("inputs", {})
        if not SAMPLER.search(class_type):
            continue
        if class_type == "KSamplerAdvanced":
            count = _literal(inputs, "steps")
            start, end = _literal(inputs, "start_at_step"), _literal(inputs, "end_at_step")
            if count is None or start is None or end is None:
                return None
            total += max(min(end, count) - start, 0)
            continue
        if class_type == "KSampler":
            count = _literal(inputs, "steps")
        else:
            source = inputs.get("sigmas")
            scheduler = graph.get(str(source[0]), {}) if isinstance(source, list) else {}
            count = _literal(scheduler.get("inputs", {}), "steps")
        if count is None:
            return None
        total += count
    return total or None


def _literal(inputs: dict[str, Any], name: str) -> int | None:
    value = inputs.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class _Bar:
    """One sampler node's ProgressBar: its first and latest ``progress`` (value > 0)."""

    max: float = 0.0
    first_at: float = 0.0
    first: float = 0.0
    last_at: float = 0.0
    value: float = 0.0


@dataclass
class SegmentSteps:
    """Feed it every event of one segment's prompt; ``report`` says where it stands."""

    segment: int
    steps_hint: int
    """The segment's sampling steps as planned: ``graph_steps`` of its graph, else the
    manifest's."""
    worker: str = ""
    updated_at: float = float("-inf")
    """When the last event came (the caller's clock)."""
    _bars: dict[str, _Bar] = field(default_factory=dict)
    _latest: Progress | None = None
    _queued: Queued | None = None

    def update(self, event: Event, now: float) -> SegmentProgress:
        self.updated_at = now
        if isinstance(event, Queued):
            self._queued = event
            return self.report()
        self._latest = event
        # ``executing`` reports 0/1; a ``progress`` of a sampler has value > 0.
        if SAMPLER.search(event.class_type) and event.value > 0:
            bar = self._bars.get(event.node)
            if bar is None:
                self._bars[event.node] = _Bar(event.max, now, event.value, now, event.value)
            elif event.value > bar.value:
                bar.last_at, bar.value = now, event.value
            if bar is not None and event.max > bar.max:
                bar.max = event.max
        return self.report()

    def report(self) -> SegmentProgress:
        latest = self._latest
        step = int(sum(bar.value for bar in self._bars.values()))
        steps = max(self.steps_hint, int(sum(bar.max for bar in self._bars.values())))
        per_step = self.seconds_per_step()
        eta = None if per_step is None else round(max(steps - step, 0) * per_step, 1)
        if latest is not None:
            doing = node_doing(latest.class_type, latest.node, step=step, steps=steps)
        else:
            doing = queued(self._queued.position) if self._queued else SUBMITTED
        return SegmentProgress(
            segment=self.segment,
            node=latest.class_type if latest else "",
            class_type=latest.class_type if latest else "",
            doing=doing,
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
        """Measured sampling pace over every sampler node (see the module's rule), s."""
        seconds = sum(bar.last_at - bar.first_at for bar in self._bars.values())
        counted = sum(bar.value - bar.first for bar in self._bars.values())
        return round(seconds / counted, 3) if counted > 0 else None
