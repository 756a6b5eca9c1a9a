"""Filling in the lockfile's sizes and hashes from a mirror an operator trusts.

Hashes are never typed in or guessed: ``pipeline models lock --from MIRROR`` reads each
unpinned file (every file with ``rehash``) from the mirror and records what it measured.
A mirror is a models directory (``MIRROR/{folder}/{name}``, e.g. a box whose ComfyUI works)
or a URL prefix serving the same layout (``https://host/models`` or ``s3://bucket/models``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from pipeline.domain.errors import LockError, SourceError
from pipeline.weights.fetch import ProgressFn, Sources, hash_file
from pipeline.weights.lock import LockedFile, ModelsLock


def is_url(mirror: str) -> bool:
    return mirror.startswith(("http://", "https://", "s3://"))


def _measure_url(sources: Sources, url: str, progress: ProgressFn) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with sources.for_url(url).open(url, 0) as opened:
        for chunk in opened.chunks:
            digest.update(chunk)
            size += len(chunk)
            progress(len(chunk))
    if opened.total is not None and size != opened.total:
        raise SourceError(f"{url}: transfer ended at {size} of {opened.total} bytes")
    return digest.hexdigest(), size


def measure(
    entry: LockedFile, mirror: str, sources: Sources, progress: ProgressFn
) -> tuple[str, int]:
    """sha256 and size of ``entry``'s copy in ``mirror``; ``LockError`` if it has none."""
    if is_url(mirror):
        try:
            return _measure_url(sources, f"{mirror.rstrip('/')}/{entry.path}", progress)
        except SourceError as exc:
            raise LockError(f"cannot measure {entry.path} from the mirror: {exc.message}") from exc
    path = Path(mirror) / entry.folder / entry.name
    if not path.is_file():
        raise LockError(f"the mirror {mirror} has no {entry.path}")
    return hash_file(path, progress)


def pin_from(
    lock: ModelsLock,
    mirror: str,
    sources: Sources,
    *,
    rehash: bool = False,
    on_file: Callable[[LockedFile], ProgressFn] = lambda entry: lambda n: None,
) -> tuple[ModelsLock, list[str]]:
    """``lock`` with the unpinned (or, with ``rehash``, all) files measured from ``mirror``.

    Returns the new lock and the paths whose pin changed. A pinned file the mirror
    measures differently is re-pinned only with ``rehash``: that is the operator's call.
    """
    files, changed = [], []
    for entry in lock.files:
        if entry.pinned and not rehash:
            files.append(entry)
            continue
        sha256, size = measure(entry, mirror, sources, on_file(entry))
        if (size, sha256) != (entry.size, entry.sha256):
            changed.append(entry.path)
        files.append(entry.model_copy(update={"size": size, "sha256": sha256}))
    return lock.model_copy(update={"files": files}), changed
