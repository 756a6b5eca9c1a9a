"""The lockfile's ComfyUI files, derived from the presets and their model files table.

Every file a preset names (``Preset.files()``) becomes one entry in its folder of
``workflows_comfy/models.toml``, tagged with the presets that name it and sourced from the
table's URL. ``refreshed`` rebuilds a lock's entries from that, keeping what only the lock
knows: each file's measured size and sha256 and its sources in the order the operator put
them (a mirror or an ``s3://`` copy before the hub is tried first; the table's URL is added
at the end when the lock lacks it). Files no preset names any more are dropped; the separation
files, the ComfyUI commit and the node packs are the lock's own and stay as they are. A file
with no known source (one only an operator's own workflow loads, ``workflows_comfy.bound``)
is the operator's to provide and stays out of the lock.
"""

from __future__ import annotations

from pipeline.weights.lock import SEPARATION, LockedFile, ModelsLock
from workflows_comfy.models import model_file
from workflows_comfy.presets import PRESETS


def required_files() -> list[LockedFile]:
    """One unpinned entry per file the presets name, sorted by folder and name."""
    entries: dict[str, LockedFile] = {}
    for name, preset in sorted(PRESETS.items()):
        for file_name in preset.files():
            row = model_file(file_name)
            if not row.url:
                continue
            entry = entries.get(file_name) or LockedFile(
                folder=row.folder, name=row.name, size=None, sha256=None, urls=[row.url]
            )
            if name not in entry.presets:
                entry = entry.model_copy(update={"presets": [*entry.presets, name]})
            entries[file_name] = entry
    return sorted(entries.values(), key=lambda entry: (entry.folder, entry.name))


def refreshed(lock: ModelsLock) -> ModelsLock:
    """``lock`` with its ComfyUI files rebuilt from the presets, pins and mirrors kept."""
    known = {entry.path: entry for entry in lock.files}
    files = []
    for wanted in required_files():
        old = known.get(wanted.path)
        if old is not None:
            urls = old.urls + [url for url in wanted.urls if url not in old.urls]
            wanted = wanted.model_copy(
                update={"size": old.size, "sha256": old.sha256, "urls": urls}
            )
        files.append(wanted)
    files += [entry for entry in lock.files if entry.use == SEPARATION]
    return lock.model_copy(update={"files": files})
