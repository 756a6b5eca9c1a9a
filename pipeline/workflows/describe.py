"""What a session's live line says: in the Temporal UI (``workflow.set_current_details``, as
Markdown) and on a terminal (``pipeline tail``, as text). Pure.

Sandbox-safe: ``SessionWorkflow`` calls it on every change of its progress. In the UI's
Markdown, what the line quotes from outside (an error message, which may quote a manifest's
names; media and folder names) is a code span (``pipeline.domain.markdown``); the latest
segment preview is shown by its key, with the ``pipeline status`` command that prints its
URL (a presigned URL would stop working after ``PRESIGN_EXPIRY_S``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.domain.contracts import SessionProgress
from pipeline.domain.markdown import code
from pipeline.domain.media_names import Quote, waiting_for_media

SEPARATOR = " · "


def live_line(progress: SessionProgress) -> str:
    """The line as text, e.g. ``segment 2/4 · sampling step 3/4 · ETA 40 s``: what the
    prompt is doing in words where the worker says, else the node and its step."""
    return SEPARATOR.join(_parts(progress, str))


def current_details(progress: SessionProgress, workflow_id: str) -> str:
    """The UI's current details: ``live_line`` as Markdown, the error a code span, then
    (once a segment preview exists) a line with the latest one's key and
    ``pipeline status {workflow_id}``, which prints a fresh URL for it."""
    line = SEPARATOR.join(_parts(progress, code))
    if not progress.previews:
        return line
    status = code(f"pipeline status {workflow_id}")
    return (
        f"{line}\n\npreview of segment {len(progress.previews)}: {code(progress.previews[-1])}"
        f" ({status} prints its URL)"
    )


def waiting_details(missing: Sequence[str], present: Sequence[str]) -> str:
    """The UI's current details while a session waits for media: ``waiting_for_media`` with
    every name a code span."""
    return waiting_for_media(missing, present, code)


def _parts(progress: SessionProgress, quote: Quote) -> list[str]:
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
        parts.append(quote(progress.error))
    return parts
