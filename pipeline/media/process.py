"""Running ffmpeg and ffprobe: argument lists in, bytes out, no shell."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ffmpeg

from pipeline.domain.errors import InternalError

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
FFMPEG_GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-loglevel", "error", "-y")
"""Placed before the inputs: ffmpeg may ignore global options that trail the output."""

_TAIL_LINES = 15


REPORT_GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-y")
"""For a run whose filters report at the end (``astats``): every line tagged with its level,
so ``logged_errors`` can still tell ffmpeg's own complaints apart."""
_LEVEL_TAG = re.compile(r"\[(?P<level>trace|debug|verbose|info|warning|error|fatal|panic)\] ")
_ERROR_LEVELS = frozenset({"error", "fatal", "panic"})
"""What ``-loglevel error`` shows."""


def ffmpeg_command(stream: Any, *, report: bool = False) -> list[str]:
    """The full ffmpeg argument list for an ffmpeg-python output stream.

    ``report`` logs at ``level+info`` (``REPORT_GLOBAL_ARGS``) instead of errors only.
    """
    return [
        FFMPEG,
        *(REPORT_GLOBAL_ARGS if report else FFMPEG_GLOBAL_ARGS),
        *ffmpeg.get_args(stream),
    ]


def logged_errors(stderr: bytes) -> bytes:
    """What a ``report`` run's stderr would have been at ``-loglevel error``: its error
    lines, level tags removed (untagged lines, as all of a plain run's, are kept)."""
    kept = []
    for line in stderr.decode("utf-8", errors="replace").splitlines():
        tag = _LEVEL_TAG.search(line)
        if tag is None:
            kept.append(line)
        elif tag["level"] in _ERROR_LEVELS:
            kept.append(line[: tag.start()] + line[tag.end() :])
    return "\n".join(kept).encode()


def run(args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    """Run a command to completion; the caller judges its exit status.

    Raises ``InternalError`` (retryable) when a signal ended it (a negative return code: a
    worker stopping, the OOM killer): that says nothing of the files it read, so it must
    never read as a verdict on them (``bad_media``, a failed quality check).
    """
    # No stdin: ffmpeg reads keys from it and would stall a worker without a terminal.
    done = subprocess.run(list(args), stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode < 0:
        raise InternalError(
            f"{Path(args[0]).name} was stopped by signal {-done.returncode} before it finished",
            detail={"args": list(args), "signal": -done.returncode},
        )
    return done


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
