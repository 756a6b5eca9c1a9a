"""Whether the embedded stack of a state dir runs a given child (``pipeline status`` asks)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.stack.state import ProcessRecord, ProcessTable, child_running, write_process_table


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    yield child
    child.kill()
    child.wait()


def _record(state_dir: Path, supervisor: int, child: subprocess.Popen[bytes]) -> None:
    write_process_table(
        state_dir,
        ProcessTable(
            supervisor=supervisor,
            processes={"worker-gpu": ProcessRecord(pid=child.pid, command=sys.executable)},
        ),
    )


def test_a_recorded_child_of_a_live_supervisor_runs(
    tmp_path: Path, worker: subprocess.Popen[bytes]
) -> None:
    _record(tmp_path, os.getpid(), worker)
    assert child_running(tmp_path, "worker-gpu")
    assert not child_running(tmp_path, "worker-cpu")


def test_a_killed_child_or_a_dead_supervisor_means_not_running(
    tmp_path: Path, worker: subprocess.Popen[bytes]
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _record(tmp_path, gone.pid, worker)
    assert not child_running(tmp_path, "worker-gpu")

    _record(tmp_path, os.getpid(), worker)
    worker.kill()
    worker.wait()
    assert not child_running(tmp_path, "worker-gpu")


def test_no_stack_ever_ran_here(tmp_path: Path) -> None:
    assert not child_running(tmp_path, "worker-gpu")
