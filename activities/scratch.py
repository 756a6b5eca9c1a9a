"""Scratch space for one activity attempt: a fresh folder, removed whatever happens."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_dir(work_dir: Path, prefix: str = "activity-") -> Iterator[Path]:
    work_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
