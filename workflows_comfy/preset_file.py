"""``PRESETS_FILE``: an operator's presets, derived from the shipped ones.

A studio whose ComfyUI names its model files differently, or that wants other sampling
defaults, does not edit code: it writes a TOML file and points ``PRESETS_FILE`` at it::

    [[preset]]
    name = "wan22-i2v-fp8"       # a shipped name replaces that preset; a new one adds one
    base = "wan22-i2v-fp8"       # the shipped preset whose graph it runs (default: name)
    steps = 6                    # optional: the defaults a manifest does not set
    cfg = 1.0
    qc = "report"                # optional: the quality gate's policy (off|report|rerender|fail)
    [preset.files]               # shipped file name → the name this ComfyUI offers
    "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors" = "wan22_high_fp8.safetensors"
    [preset.quality]             # optional: thresholds changed from the base preset's
    max_black_ratio = 0.1

A renamed file keeps the shipped file's ComfyUI folder (``models.toml``), so
``pipeline workers`` and ``doctor`` still say where it belongs. An entry may instead bring
its own graph: ``kind``, ``workflow`` (an API-format JSON, relative to the presets file)
and a ``[preset.bind]`` table (``workflows_comfy.bound``). Anything unknown or wrong (a key,
a base preset, a file the base does not load, a binding, a name given twice, a shipped name
given another kind) is refused when the process starts, naming the file and the line of
the preset it is in.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError

from pipeline.domain.errors import ConfigError
from pipeline.domain.quality import QcPolicy, QualityThresholds
from workflows_comfy.bound import ROLES, load_bound
from workflows_comfy.models import ModelFile, model_files
from workflows_comfy.presets import DEFAULT_PRESET, PRESETS, Preset

Target = str | dict[str, str]
Binding = Target | int | list[Target]
"""``"12.image"``, ``{node = "12", input = "image"}``, a list of them, or (``output``) a
node id."""


class PresetEntry(BaseModel):
    """One ``[[preset]]`` of a presets file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        min_length=1, description="A shipped name replaces that preset; a new one adds one."
    )
    base: str | None = Field(
        default=None, description="The shipped preset whose graph it runs (default: name)."
    )
    steps: StrictInt | None = Field(default=None, ge=1, description="Default sampling steps.")
    cfg: StrictFloat | StrictInt | None = Field(
        default=None, ge=0, le=100, description="Default classifier-free guidance."
    )
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Shipped file name -> the name this ComfyUI offers (same models/ folder).",
    )
    kind: Literal["i2v", "s2v", "infinitetalk"] | None = Field(
        default=None, description="Bring your own graph: the kind the workflow renders."
    )
    workflow: str | None = Field(
        default=None,
        min_length=1,
        description="Bring your own graph: an API-format workflow JSON ('Export (API)' in the "
        "ComfyUI editor), relative to the presets file.",
    )
    bind: dict[str, Binding] = Field(
        default_factory=dict,
        description="Bring your own graph: role -> the node input(s) that receive it "
        "('node_id.input_name', {node, input} or a list); 'output' -> the id of the node "
        f"saving the video. Roles: {', '.join(ROLES)}.",
    )
    folders: dict[str, str] = Field(
        default_factory=dict,
        description="Bring your own graph: model file -> its ComfyUI models/ folder, for "
        "loaders whose folder is not known.",
    )
    qc: QcPolicy | None = Field(
        default=None,
        description="What a failed quality check does when a manifest sets no qc: off, "
        "report, rerender (the shipped presets') or fail.",
    )
    quality: QualityThresholds | None = Field(
        default=None,
        description="The quality gate's thresholds; those given replace the base preset's "
        "(the shipped defaults for an entry with its own graph).",
    )


class PresetsDocument(BaseModel):
    """A presets file (``PRESETS_FILE``), TOML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: list[PresetEntry] = Field(default_factory=list)


def json_schema() -> dict[str, Any]:
    """The presets file's published JSON Schema (``pipeline/schemas/presets.v1.json``)."""
    schema = PresetsDocument.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/wan-pipeline/wan-pipeline/presets.v1.json"
    schema["title"] = "Presets file v1"
    return schema


def _renamed(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every file name in ``names`` replaced, through nested dataclasses."""
    if isinstance(value, str):
        return names.get(value, value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        changes = {f.name: _renamed(getattr(value, f.name), names) for f in fields}
        return dataclasses.replace(value, **changes)
    return value


_HEADER = re.compile(r"\s*\[\[\s*preset\s*\]\]\s*(#.*)?")
"""A ``[[preset]]`` header line, as TOML allows it: spaces inside the brackets, a comment."""


def _header_lines(text: str) -> list[int]:
    """Line number (1-based) of each ``[[preset]]`` header, in order."""
    return [i for i, line in enumerate(text.splitlines(), 1) if _HEADER.fullmatch(line)]


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
    defined: dict[str, str] = {}
    for index, raw in enumerate(document.get("preset", [])):
        line = str(lines[index]) if index < len(lines) else "?"
        where = f"{path}:{line}"
        entry = _entry(raw, where)
        if entry.name in defined:
            raise ConfigError(
                f"{where}: preset {entry.name!r} is already defined at line "
                f"{defined[entry.name]}; give each [[preset]] its own name"
            )
        defined[entry.name] = line
        if entry.workflow is not None or entry.kind is not None or entry.bind:
            found, graph_rows = _bound(entry, path, where, table)
            presets[found.name] = _same_kind(_gated(found, entry), where)
            rows.update(graph_rows)
            continue
        found = _derive(entry, where)
        presets[found.name] = _same_kind(_gated(found, entry), where)
        base = PRESETS[entry.base or entry.name]
        for old, new in entry.files.items():
            if old not in base.files():
                raise ConfigError(
                    f"{where}: preset {base.name!r} loads no file {old!r}; "
                    f"it loads {', '.join(base.files())}"
                )
            rows[new] = dataclasses.replace(table[old], name=new, template=f"renamed in {path}")
    return presets, rows


def _gated(found: Preset, entry: PresetEntry) -> Preset:
    """``found`` with the entry's quality gate: its ``qc``, and each threshold it gives."""
    changes: dict[str, Any] = {}
    if entry.qc is not None:
        changes["qc"] = entry.qc
    if entry.quality is not None:
        given = {name: getattr(entry.quality, name) for name in entry.quality.model_fields_set}
        changes["quality"] = found.quality.model_copy(update=given)
    return dataclasses.replace(found, **changes) if changes else found


def _same_kind(found: Preset, where: str) -> Preset:
    """``found``, unless it would replace a shipped preset of another kind.

    A manifest naming that preset (or, for a kind's default, naming none) expects its kind.
    """
    replaced = PRESETS.get(found.name)
    if replaced is None or replaced.kind == found.kind:
        return found
    default = [k for k, name in DEFAULT_PRESET.items() if name == found.name]
    role = f" (the default of {default[0]} drops)" if default else ""
    raise ConfigError(
        f"{where}: {found.name!r} is the name of a shipped {replaced.kind} preset{role}; "
        f"an {found.kind} preset cannot replace it: give it another name"
    )


def _entry(raw: Any, where: str) -> PresetEntry:
    """``raw`` checked against the schema; ``ConfigError`` at ``where`` naming each problem."""
    try:
        return PresetEntry.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'preset'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{where}: {problems}") from None


def _bound(
    entry: PresetEntry, path: Path, where: str, table: dict[str, ModelFile]
) -> tuple[Preset, dict[str, ModelFile]]:
    """A bring-your-own-graph entry's preset; ``ConfigError`` at ``where`` naming the workflow."""
    given = [key for key in ("base", "files") if getattr(entry, key)]
    if given or entry.kind is None or entry.workflow is None or not entry.bind:
        lacking = [k for k in ("kind", "workflow", "bind") if not getattr(entry, k)]
        raise ConfigError(
            f"{where}: a preset with its own graph sets kind, workflow and [preset.bind]"
            + (f"; missing {', '.join(lacking)}" if lacking else "")
            + (f"; {', '.join(given)} only derive shipped presets" if given else "")
        )
    folder = path.parent.resolve()
    workflow = path.parent / entry.workflow
    try:
        return load_bound(
            name=entry.name,
            kind=entry.kind,
            workflow=workflow,
            bind_table=entry.bind,
            steps=entry.steps,
            cfg=entry.cfg,
            folders=entry.folders,
            known=table,
        )
    except ValueError as exc:
        hint = ""
        if not Path(entry.workflow).is_absolute() and not workflow.is_file():
            hint = f" (a relative workflow is read from the presets file's folder, {folder})"
        raise ConfigError(f"{where}: workflow {workflow}: {exc}{hint}") from None


def _derive(entry: PresetEntry, where: str) -> Preset:
    if entry.folders:
        raise ConfigError(f"{where}: folders only name the files of a preset's own workflow")
    base_name = entry.base or entry.name
    if base_name not in PRESETS:
        shipped = ", ".join(sorted(PRESETS))
        raise ConfigError(f"{where}: base preset {base_name!r} is not shipped; shipped: {shipped}")
    derived = _renamed(PRESETS[base_name], entry.files)
    changes: dict[str, Any] = {"name": entry.name}
    if entry.steps is not None:
        changes["steps"] = entry.steps
    if entry.cfg is not None:
        changes["cfg"] = float(entry.cfg)
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
