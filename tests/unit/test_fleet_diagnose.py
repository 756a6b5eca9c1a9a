"""Why a live GPU worker takes no new session: stopped, gone, ComfyUI down, slots, silent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from pipeline.fleet.diagnose import fault, held_slots, not_taking
from pipeline.fleet.registry import LiveWorker, WorkerRecord

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def worker(status: Literal["polling", "busy"] = "polling", **fields: Any) -> LiveWorker:
    record = WorkerRecord.model_validate(
        {
            "identity": "box-1@gpu",
            "task_queue": "gpu",
            "worker_task_queue": "gpu.worker.box-1",
            "polling": ["gpu.wan22-i2v-fp8"],
            "comfyui_url": "http://127.0.0.1:8188",
            "serving": {"i2v": ["wan22-i2v-fp8"]},
            "nodes": 10,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": NOW - timedelta(hours=1),
            "updated_at": NOW,
        }
        | fields
    )
    return LiveWorker(record=record, status=status, last_poll=NOW if status == "polling" else None)


@pytest.fixture
def stopped_pid() -> Iterator[int]:
    """A real process stopped with SIGSTOP (resumed and ended afterwards)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    os.kill(child.pid, signal.SIGSTOP)
    try:
        os.waitpid(child.pid, os.WUNTRACED)  # returns once it is stopped
        yield child.pid
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.wait()


def test_an_idle_polling_worker_takes_work() -> None:
    assert fault(worker()) is None
    assert not_taking(worker(), NOW) is None


def test_a_stopped_worker_on_this_machine_is_named_with_its_pid(stopped_pid: int) -> None:
    said = not_taking(worker(pid=stopped_pid), NOW)

    assert said is not None
    assert f"(pid {stopped_pid}) is stopped (SIGSTOP or a debugger)" in said
    assert f"'kill -CONT {stopped_pid}'" in said


def test_a_stopped_worker_on_another_machine_is_not_judged_by_a_local_pid(
    stopped_pid: int,
) -> None:
    assert fault(worker(pid=stopped_pid, host="elsewhere")) is None


def test_a_worker_whose_process_is_gone_is_named() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()

    said = fault(worker(pid=child.pid))
    assert said is not None
    assert f"(pid {child.pid}) is gone" in said


def test_a_comfyui_that_does_not_answer_is_named_with_its_url() -> None:
    said = not_taking(worker(ready=False), NOW)

    assert said is not None
    assert "ComfyUI at http://127.0.0.1:8188 does not answer" in said


def test_full_session_slots_name_their_sessions_and_expired_ones_do_not_count() -> None:
    later = NOW + timedelta(minutes=5)
    full = worker(slots={"session-a": later, "session-b": later})
    one_expired = worker(slots={"session-a": later, "session-b": NOW - timedelta(seconds=1)})

    said = not_taking(full, NOW)
    assert said is not None
    assert "holds its 2 session slots for a, b" in said
    assert fault(full) is None  # sessions that run on: no fault
    assert held_slots(one_expired, NOW) == ["a"]
    assert not_taking(one_expired, NOW) is None


def test_an_idle_worker_that_stopped_polling_is_suspect_but_a_busy_one_is_not() -> None:
    silent = fault(worker("busy"))

    assert silent is not None
    assert "holds no task but has not polled Temporal for over 90 s" in silent
    assert fault(worker("busy", held=["dG9rZW4="])) is None
