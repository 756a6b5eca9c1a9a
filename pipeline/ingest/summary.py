"""How a session reads in the Temporal UI at start: summary, details and memo. Pure.

The summary and details are Markdown the UI renders: what they quote of the manifest and the
bucket (preset word, prompt, keys) is a code span (``pipeline.domain.markdown``), and they link
nothing: inputs are never public and presigned URLs would stop working after
``PRESIGN_EXPIRY_S``, so the details show the inputs' keys and the ``pipeline status``
command that prints fresh URLs for them.

The preset rules it shows (``preset_name``, ``sampling_steps``, ``planned_frames``) live with
the presets, in ``workflows_comfy.presets``.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.drop import DropRef
from pipeline.domain.manifest import Manifest
from pipeline.domain.markdown import code
from workflows_comfy.presets import planned_frames, preset_name, sampling_steps

SEPARATOR = " · "
PROMPT_CHARS = 200


def summary(drop: DropRef, manifest: Manifest | None, frames: int | None = None) -> str:
    """One Markdown line, e.g. ``infinitetalk · `infinitetalk-q8` · 279 frames ·
    `inbox/abc/manifest.json```: kind, preset, frames (``frames``, else as planned) and the
    drop's key; the key alone when the manifest could not be read."""
    if manifest is None:
        return code(drop.manifest_key)
    frames = frames if frames is not None else planned_frames(manifest)
    parts = [manifest.kind.value, code(preset_name(manifest))]
    parts.append(f"{frames} frames" if frames is not None else "frames from audio")
    parts.append(code(drop.manifest_key))
    return SEPARATOR.join(parts)


def details(
    drop: DropRef,
    manifest: Manifest,
    inputs: dict[str, str],
) -> str:
    """Markdown for the UI's details pane: the manifest in short and where its inputs are.

    ``inputs`` maps each media role to its key in the session, shown as code. The last line
    names ``pipeline status {session id}``, which prints a fresh URL of every input and
    output.
    """
    lines = [f"**{summary(drop, manifest)}**", ""]
    if manifest.prompt:
        lines.append(f"> {code(_clip(manifest.prompt))}")
        lines.append("")
    lines.append(
        f"{manifest.width}x{manifest.height}, {sampling_steps(manifest)} steps"
        + (f", cfg {manifest.cfg}" if manifest.cfg is not None else "")
        + (f", seed {manifest.seed}" if manifest.seed is not None else "")
    )
    for role, key in inputs.items():
        lines.append(f"- {role}: {code(key)}")
    lines.append(f"- drop: {code(f's3://{drop.bucket}/{drop.manifest_key}')}")
    status = code(f"pipeline status {drop.session_id}")
    lines.append(f"- links: {status} prints fresh URLs of the inputs and outputs")
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
