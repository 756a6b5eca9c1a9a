"""``PRESETS_FILE``: an operator's presets, derived from the shipped ones.

A studio whose ComfyUI names its model files differently, or that wants other sampling
defaults, does not edit code: it writes a TOML file and points ``PRESETS_FILE`` at it::

    [[preset]]
    name = "wan22-i2v-fp8"       # a shipped name replaces that preset; a new one adds one
    base = "wan22-i2v-fp8"       # the shipped preset whose graph it runs (default: name)
    steps = 6                    # optional: the defaults a manifest does not set
    cfg = 1.0
    [preset.files]               # shipped file name → the name this ComfyUI offers
    "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors" = "wan22_high_fp8.safetensors"

A renamed file keeps the shipped file's ComfyUI folder (``models.toml``), so
``pipeline workers`` and ``doctor`` still say where it belongs. Anything unknown (a key, a
base preset, a file the base does not load) is refused when the process starts, naming the
file and the line of the preset it is in.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from pipeline.domain.errors import ConfigError
from workflows_comfy.models import ModelFile, model_files
from workflows_comfy.presets import PRESETS, Preset

_KEYS = {"name", "base", "steps", "cfg", "files"}


def _renamed(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every file name in ``names`` replaced, through nested dataclasses."""
    if isinstance(value, str):
        return names.get(value, value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        changes = {f.name: _renamed(getattr(value, f.name), names) for f in fields}
        return dataclasses.replace(value, **changes)
    return value


def _header_lines(text: str) -> list[int]:
    """Line number (1-based) of each ``[[preset]]`` header, in order."""
    return [i for i, line in enumerate(text.splitlines(), 1) if line.strip() == "[[preset]]"]


def read_presets_file(path: Path) -> tuple[dict[str, Preset], dict[str, ModelFile]]:
    """The presets ``path`` defines, and the model-table rows of the file names it renames.

    Raises ``ConfigError`` naming ``path`` and the line of the offending preset.
    """
    try:
        text = path.read_text(encoding="utf-8")
        document = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"PRESETS_FILE {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"PRESETS_FILE {path}: {exc}") from None
    unknown_top = document.keys() - {"preset"}
    if unknown_top:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown_top)} (only [[preset]])")
    lines = _header_lines(text)
    table = model_files()
    presets: dict[str, Preset] = {}
    rows: dict[str, ModelFile] = {}
    for index, entry in enumerate(document.get("preset", [])):
        where = f"{path}:{lines[index] if index < len(lines) else '?'}"
        found = _derive(entry, where)
        presets[found.name] = found
        base = PRESETS[entry.get("base", entry["name"])]
        for old, new in entry.get("files", {}).items():
            if old not in base.files():
                raise ConfigError(
                    f"{where}: preset {base.name!r} loads no file {old!r}; "
                    f"it loads {', '.join(base.files())}"
                )
            rows[new] = dataclasses.replace(table[old], name=new, template=f"renamed in {path}")
    return presets, rows


def _derive(entry: Any, where: str) -> Preset:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"{where}: a [[preset]] needs a name")
    unknown = entry.keys() - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    base_name = entry.get("base", entry["name"])
    if base_name not in PRESETS:
        shipped = ", ".join(sorted(PRESETS))
        raise ConfigError(f"{where}: base preset {base_name!r} is not shipped; shipped: {shipped}")
    files = entry.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ConfigError(f"{where}: files maps shipped file names to file names")
    derived = _renamed(PRESETS[base_name], files)
    changes: dict[str, Any] = {"name": entry["name"]}
    for key, kind in (("steps", int), ("cfg", float)):
        if key in entry:
            if not isinstance(entry[key], int | float) or isinstance(entry[key], bool):
                raise ConfigError(f"{where}: {key} must be a number")
            changes[key] = kind(entry[key])
    preset: Preset = dataclasses.replace(derived, **changes)
    return preset


def install_presets_file(path: Path) -> list[str]:
    """Read ``path`` and make its presets (and renamed files) the deployment's; their names.

    Called once at process start, before any graph is built.
    """
    presets, rows = read_presets_file(path)
    model_files().update(rows)
    PRESETS.update(presets)
    return sorted(presets)
