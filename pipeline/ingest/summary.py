"""How a session reads in the Temporal UI at start: summary, details and memo. Pure.

Also the manifest's resolved preset name and sampling steps, which ``take_drop`` hands the
workflow (workflows import no preset tables).
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.drop import DropRef
from pipeline.domain.errors import PipelineError
from pipeline.domain.frames.plan import plan_for
from pipeline.domain.manifest import Kind, Manifest
from workflows_comfy.presets import preset_for

SEPARATOR = " · "
PROMPT_CHARS = 200


def preset_name(manifest: Manifest) -> str:
    """The preset the session renders with; the manifest's own word if it names none known."""
    try:
        return preset_for(manifest).name
    except PipelineError:
        return manifest.preset or "?"


def sampling_steps(manifest: Manifest) -> int:
    """The manifest's steps, else its preset's default (0 when the preset is unknown).

    A preset whose graph binds no ``steps`` runs its graph's own: that count, whatever the
    manifest says.
    """
    try:
        chosen = preset_for(manifest)
    except PipelineError:
        return manifest.steps or 0
    if manifest.steps is not None and chosen.takes("steps"):
        return manifest.steps
    return chosen.steps


def planned_frames(manifest: Manifest) -> int | None:
    """Frames the session will render, when the manifest alone decides it (i2v)."""
    if manifest.kind is not Kind.I2V:
        return None  # Audio kinds: the cropped audio's length decides, known after planning.
    try:
        return plan_for(manifest, None).total_frames
    except PipelineError:
        return None


def summary(drop: DropRef, manifest: Manifest | None, frames: int | None = None) -> str:
    """One line, e.g. ``infinitetalk · infinitetalk-q8 · 279 frames · inbox/abc/manifest.json``."""
    if manifest is None:
        return drop.manifest_key
    frames = frames if frames is not None else planned_frames(manifest)
    parts = [manifest.kind.value, preset_name(manifest)]
    parts.append(f"{frames} frames" if frames is not None else "frames from audio")
    parts.append(drop.manifest_key)
    return SEPARATOR.join(parts)


def details(drop: DropRef, manifest: Manifest, links: dict[str, str]) -> str:
    """Markdown for the UI's details pane: the manifest in short and links to the inputs."""
    lines = [f"**{summary(drop, manifest)}**", ""]
    if manifest.prompt:
        lines.append(f"> {_clip(manifest.prompt)}")
        lines.append("")
    lines.append(
        f"{manifest.width}x{manifest.height}, {sampling_steps(manifest)} steps"
        + (f", cfg {manifest.cfg}" if manifest.cfg is not None else "")
        + (f", seed {manifest.seed}" if manifest.seed is not None else "")
    )
    for role, url in links.items():
        lines.append(f"- {role}: [{url.split('?')[0].rsplit('/', 1)[-1]}]({url})")
    lines.append(f"- drop: `s3://{drop.bucket}/{drop.manifest_key}`")
    return "\n".join(lines)


def memo(drop: DropRef, manifest: Manifest, inputs: dict[str, str]) -> dict[str, Any]:
    """The memo: the manifest's summary fields and where its inputs live in the bucket."""
    return {
        "kind": manifest.kind.value,
        "preset": preset_name(manifest),
        "prompt": _clip(manifest.prompt),
        "size": f"{manifest.width}x{manifest.height}",
        "steps": sampling_steps(manifest),
        "frames": planned_frames(manifest),
        "drop": f"s3://{drop.bucket}/{drop.manifest_key}",
        "inputs": inputs,
    }


def _clip(text: str) -> str:
    return text if len(text) <= PROMPT_CHARS else text[: PROMPT_CHARS - 1] + "…"
