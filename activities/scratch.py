"""Scratch space for one activity attempt: a fresh folder, removed whatever happens.

Objects fetched from the bucket go under ``in/`` (``input_path``) under their own names,
and an activity writes its outputs beside ``in/``, never in it, so no name a user gives a
file can collide with a file the pipeline writes (``audio.wav`` named ``audio.wav``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

INPUTS = "in"


@contextmanager
def scratch_dir(work_dir: Path, prefix: str = "activity-") -> Iterator[Path]:
    work_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def input_path(scratch: Path, key: str) -> Path:
    """Where to download ``key`` in ``scratch``: ``in/{its file name}``."""
    return scratch / INPUTS / PurePosixPath(key).name
