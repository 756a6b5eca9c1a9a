"""The models lockfile (``deploy/models.lock``): every weight file a GPU box needs, pinned.

A JSON document (schema: ``pipeline/schemas/models-lock.v1.json``) with three parts:

- ``comfyui``: the ComfyUI repository and commit the graphs are validated against;
- ``node_packs``: each custom node pack's repository and commit (installed under
  ``ComfyUI/custom_nodes/{name}``), with the presets that need it;
- ``files``: one entry per file, ``{folder}/{name}`` relative to the models directory
  (ComfyUI's ``models/``; the Demucs model sits in a ``demucs`` folder beside them), with its
  ``size`` in bytes, ``sha256`` (lower-case hex), one or more source ``urls`` (``https://``
  or ``s3://bucket/key``, tried in order) and the presets that use it.

A file whose ``size``/``sha256`` nobody has measured yet is *unpinned*: both are ``null``.
Hashes are never guessed; ``pipeline models lock --from MIRROR`` measures them from a copy
an operator trusts, and sync and verify refuse to call an unpinned file good. Pure: parsing
and selection only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.domain.errors import LockError

SEPARATION = "separation"
"""The ``use`` of files the GPU worker's vocal separation (Demucs) loads, not ComfyUI."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_FOLDER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepoPin(_Strict):
    """A git repository at one commit."""

    name: str = Field(pattern=_NAME.pattern)
    repo: str = Field(pattern=r"^https://", description="Clone URL.")
    commit: str = Field(pattern=r"^[0-9a-f]{40}$", description="Full 40-hex commit id.")
    presets: list[str] = Field(
        default_factory=list, description="Presets whose graphs use this pack's nodes."
    )
    note: str = ""


class LockedFile(_Strict):
    """One weight file: where it goes, what it must be, where to get it."""

    folder: str = Field(
        pattern=_FOLDER.pattern,
        description="Folder under the models directory: ComfyUI's (diffusion_models, loras...) "
        "or `demucs` for the separation model.",
    )
    name: str = Field(pattern=_NAME.pattern)
    size: int | None = Field(ge=0, description="Bytes; null until measured (unpinned).")
    sha256: str | None = Field(
        pattern=r"^[0-9a-f]{64}$", description="Lower-case hex; null until measured (unpinned)."
    )
    urls: list[str] = Field(min_length=1, description="Sources tried in order.")
    use: Literal["comfyui", "separation"] = "comfyui"
    presets: list[str] = Field(default_factory=list, description="Presets that load the file.")

    @field_validator("urls")
    @classmethod
    def _known_schemes(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("https://", "http://", "s3://")):
                raise ValueError(f"{url!r}: sources are http(s):// or s3://bucket/key URLs")
        return urls

    @property
    def path(self) -> str:
        """``folder/name``, relative to the models directory."""
        return f"{self.folder}/{self.name}"

    @property
    def pinned(self) -> bool:
        return self.size is not None and self.sha256 is not None


class ModelsLock(_Strict):
    """The whole lockfile."""

    schema_: str | None = Field(default=None, alias="$schema")
    version: Literal[1] = 1
    comfyui: RepoPin
    node_packs: list[RepoPin]
    files: list[LockedFile]

    @field_validator("files")
    @classmethod
    def _unique_paths(cls, files: list[LockedFile]) -> list[LockedFile]:
        seen: set[str] = set()
        for entry in files:
            if entry.path in seen:
                raise ValueError(f"{entry.path} is listed twice")
            seen.add(entry.path)
        return files

    def file(self, folder: str, name: str) -> LockedFile | None:
        return next((f for f in self.files if f.folder == folder and f.name == name), None)

    def select(self, presets: list[str] | None = None, separation: bool = True) -> list[LockedFile]:
        """The files a worker serving ``presets`` (all when ``None``) needs, in lock order.

        ``separation`` adds the Demucs files. ``LockError`` names a preset the lock lacks.
        """
        if presets is not None:
            known = {p for f in self.files for p in f.presets}
            if unknown := sorted(set(presets) - known):
                raise LockError(
                    f"the lockfile has no files for preset(s) {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(known))}"
                )
        return [
            f
            for f in self.files
            if (f.use == SEPARATION and separation)
            or (f.use != SEPARATION and (presets is None or set(presets) & set(f.presets)))
        ]


def parse_lock(text: str, source: str = "models.lock") -> ModelsLock:
    """Parse and validate a lockfile's text; ``LockError`` says where it is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockError(f"{source}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    try:
        return ModelsLock.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise LockError(f"{source}: {problems}") from None


def load_lock(path: Path) -> ModelsLock:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise LockError(
            f"cannot read the models lockfile {path.absolute()}: {exc.strerror}; "
            "set MODELS_LOCK to its path (default: deploy/models.lock of the working directory)"
        ) from None
    return parse_lock(text, str(path))


def dump_lock(lock: ModelsLock) -> str:
    """The lockfile's text: stable key order, two-space indent, one trailing newline."""
    document = lock.model_dump(mode="json", by_alias=True, exclude_none=False)
    if document.get("$schema") is None:
        document.pop("$schema", None)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def json_schema() -> dict[str, Any]:
    """The lockfile's published JSON Schema (``pipeline/schemas/models-lock.v1.json``)."""
    schema = ModelsLock.model_json_schema(mode="validation", by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/wan-pipeline/wan-pipeline/models-lock.v1.json"
    schema["title"] = "Models lockfile v1"
    return schema
