"""The model files table (``models.toml``): every file a preset names, its folder and URL.

One row per file: ``name`` (what the loader's combo offers), ``folder`` (the ComfyUI
``models/`` folder it lives in) and ``url`` (where the official template downloads it),
plus ``template``, the official template the row was copied from. Pure; read once.
"""

from __future__ import annotations

import functools
import importlib.resources
import tomllib
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelFile:
    """One model file a worker's ComfyUI must have."""

    name: str
    folder: str
    """The ComfyUI models folder: ``diffusion_models``, ``loras``, ``model_patches``..."""
    url: str
    template: str
    """The official template (``templates/<name>.json``) the row comes from, or ``none: why``."""


@functools.cache
def model_files() -> dict[str, ModelFile]:
    """File name → its row of ``models.toml``; ``ValueError`` on a duplicate name."""
    text = importlib.resources.files("workflows_comfy").joinpath("models.toml").read_text("utf-8")
    rows: dict[str, ModelFile] = {}
    for raw in tomllib.loads(text)["file"]:
        row = ModelFile(**raw)
        if row.name in rows:
            raise ValueError(f"models.toml lists {row.name!r} twice")
        rows[row.name] = row
    return rows


def model_file(name: str) -> ModelFile:
    """The row for ``name``; ``KeyError`` naming the table if a preset names an unlisted file."""
    try:
        return model_files()[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in workflows_comfy/models.toml") from None
