"""The live line the Temporal UI shows for a session (``workflow.set_current_details``). Pure.

Sandbox-safe: ``SessionWorkflow`` calls it on every change of its progress.
"""

from __future__ import annotations

from pipeline.domain.contracts import SessionProgress

SEPARATOR = " · "


def live_line(progress: SessionProgress) -> str:
    """The current-details line, e.g. ``segment 2/4 · sampling step 3/4 · ETA 40 s``: what
    the prompt is doing in words where the worker says, else the node and its step."""
    parts = [progress.stage.replace("_", " ")]
    if progress.segments_total:
        current = min(progress.segments_done + 1, progress.segments_total)
        if progress.stage == "generating":
            parts = [f"segment {current}/{progress.segments_total}"]
        else:
            parts.append(f"{progress.segments_done}/{progress.segments_total} segments")
    if progress.stage == "generating" and progress.doing:
        parts.append(progress.doing)
    elif progress.stage == "generating" and progress.node:
        step = f" step {progress.step}/{progress.steps}" if progress.steps else ""
        parts.append(f"{progress.node}{step}")
    if progress.rerenders:
        parts.append(f"{progress.rerenders} re-rendered by the quality gate")
    if progress.eta_s is not None and progress.stage not in ("succeeded", "failed", "cancelled"):
        parts.append(f"ETA {progress.eta_s:.0f} s")
    if progress.error:
        parts.append(progress.error)
    return SEPARATOR.join(parts)
