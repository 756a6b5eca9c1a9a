"""Running ffmpeg and ffprobe: argument lists in, bytes out, no shell."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any

import ffmpeg

from pipeline.domain.errors import InternalError

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
FFMPEG_GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-loglevel", "error", "-y")
"""Placed before the inputs: ffmpeg may ignore global options that trail the output."""

_TAIL_LINES = 15


def ffmpeg_command(stream: Any) -> list[str]:
    """The full ffmpeg argument list for an ffmpeg-python output stream."""
    return [FFMPEG, *FFMPEG_GLOBAL_ARGS, *ffmpeg.get_args(stream)]


def run(args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    """Run a command to completion; the caller judges its exit status."""
    # No stdin: ffmpeg reads keys from it and would stall a worker without a terminal.
    return subprocess.run(list(args), stdin=subprocess.DEVNULL, capture_output=True, check=False)


def stderr_tail(stderr: bytes, lines: int = _TAIL_LINES) -> str:
    """The last few lines of a tool's stderr, for error messages."""
    text = stderr.decode("utf-8", errors="replace").strip()
    return "\n".join(text.splitlines()[-lines:])


def run_checked(args: Sequence[str], *, what: str) -> subprocess.CompletedProcess[bytes]:
    """Run a command on files the pipeline made; a failure is ours, not the user's."""
    done = run(args)
    if done.returncode != 0:
        raise InternalError(
            f"ffmpeg failed to {what} (exit {done.returncode}): {stderr_tail(done.stderr)}",
            detail={"args": list(args), "stderr": stderr_tail(done.stderr)},
        )
    return done
