"""Running ffmpeg and ffprobe: a tool a signal stopped is never a verdict on its input."""

from __future__ import annotations

import importlib
import signal
from pathlib import Path

import pytest

from pipeline.domain.errors import InternalError, MediaError
from pipeline.media.process import run

# The module: ``pipeline.media`` exports its function ``probe`` under the same name.
probing = importlib.import_module("pipeline.media.probe")


def test_a_command_a_signal_stopped_is_a_retryable_failure_not_an_exit_status() -> None:
    with pytest.raises(InternalError) as raised:
        run(["sh", "-c", f"kill -{signal.SIGTERM.value} $$"])
    assert raised.value.retryable
    assert raised.value.detail["signal"] == signal.SIGTERM.value
    assert "stopped by signal 15" in raised.value.message


def test_a_command_that_fails_is_for_the_caller_to_judge() -> None:
    assert run(["sh", "-c", "exit 3"]).returncode == 3


def test_an_ffprobe_stopped_by_a_worker_shutting_down_does_not_call_the_file_bad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `pipeline down` did to a stitch in flight: ffprobe got the group's SIGTERM and
    # its empty stderr read as "combined.mp4 is not a video … ffmpeg can read" (bad_media).
    video = tmp_path / "combined.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    monkeypatch.setattr(
        probing, "build_probe_command", lambda path, decode=False: ["sh", "-c", "kill -TERM $$"]
    )
    with pytest.raises(InternalError):
        probing.probe(video)
    monkeypatch.setattr(
        probing, "build_probe_command", lambda path, decode=False: ["sh", "-c", "exit 1"]
    )
    with pytest.raises(MediaError):
        probing.probe(video)
