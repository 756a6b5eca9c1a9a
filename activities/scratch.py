"""Scratch space for one activity attempt: a fresh folder, removed whatever happens.

Objects fetched from the bucket go under ``in/`` (``input_path``) under their own names,
and an activity writes its outputs beside ``in/``, never in it, so no name a user gives a
file can collide with a file the pipeline writes (``audio.wav`` named ``audio.wav``).

Folders are named ``{prefix}{pid}-{random}``, so a worker starting up can remove what a killed
worker left behind (``remove_stale_scratch``) without touching the folders of another worker
that shares the work dir and still runs.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from pipeline.host.processes import pid_alive
from pipeline.logging import get_logger

INPUTS = "in"
SCRATCH_PREFIXES = ("activity-", "separation-")
_OWNER = re.compile(r"^[a-z]+-(\d+)-")

log = get_logger()


@contextmanager
def scratch_dir(work_dir: Path, prefix: str = "activity-") -> Iterator[Path]:
    work_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=work_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def input_path(scratch: Path, key: str) -> Path:
    """Where to download ``key`` in ``scratch``: ``in/{its file name}``."""
    return scratch / INPUTS / PurePosixPath(key).name


def remove_stale_scratch(work_dir: Path) -> list[Path]:
    """Remove scratch folders whose process is gone (or is this one, just started).

    Returns what was removed. Folders without an owner pid in the name are stale too: they
    come from before the pid was recorded.
    """
    removed: list[Path] = []
    if not work_dir.is_dir():
        return removed
    for path in work_dir.iterdir():
        if not path.is_dir() or not path.name.startswith(SCRATCH_PREFIXES):
            continue
        owner = _OWNER.match(path.name)
        if owner and int(owner.group(1)) != os.getpid() and pid_alive(int(owner.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        log.info("stale scratch removed", work_dir=str(work_dir), folders=len(removed))
    return removed
