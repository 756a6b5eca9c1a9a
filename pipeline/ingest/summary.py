"""How a session reads in the Temporal UI at start: summary, details and memo. Pure.

The preset rules it shows (``preset_name``, ``sampling_steps``, ``planned_frames``) live with
the presets, in ``workflows_comfy.presets``.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.drop import DropRef
from pipeline.domain.manifest import Manifest
from workflows_comfy.presets import planned_frames, preset_name, sampling_steps

SEPARATOR = " · "
PROMPT_CHARS = 200


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
