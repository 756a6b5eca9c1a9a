"""Scratch folders: named by their worker's pid, so a starting worker removes only stale ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from activities.scratch import remove_stale_scratch, scratch_dir


def _dead_pid() -> int:
    """The pid of a process that has already exited."""
    return int(subprocess.check_output([sys.executable, "-c", "import os; print(os.getpid())"]))


def test_a_scratch_folder_names_its_process_and_is_removed_after_use(tmp_path: Path) -> None:
    with scratch_dir(tmp_path) as scratch:
        assert scratch.name.startswith(f"activity-{os.getpid()}-")
        (scratch / "frame.png").write_bytes(b"x")
    assert list(tmp_path.iterdir()) == []


def test_a_starting_worker_removes_folders_of_dead_workers_and_keeps_live_ones(
    tmp_path: Path,
) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = tmp_path / f"activity-{live.pid}-abc"
        stale = [
            tmp_path / f"activity-{_dead_pid()}-def",
            tmp_path / f"separation-{_dead_pid()}-ghi",
            tmp_path / "activity-k2j4h5",  # named before the pid was
            tmp_path / f"activity-{os.getpid()}-own",  # this worker's previous life
        ]
        unrelated = tmp_path / "models"
        for folder in [kept, *stale, unrelated]:
            folder.mkdir()
            (folder / "file").write_bytes(b"x")

        removed = remove_stale_scratch(tmp_path)

        assert sorted(removed) == sorted(stale)
        assert sorted(tmp_path.iterdir()) == sorted([kept, unrelated])
    finally:
        live.kill()
        live.wait()
