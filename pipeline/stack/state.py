"""What a running stack leaves in its state dir, so another process can find and stop it.

``stack.pid``   the supervisor's pid, written as soon as it runs
``stack.json``  its endpoints and the process group of every child, written once ready
``logs/supervisor.log``  where a detached supervisor's own output should go
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from pipeline.domain.errors import StartupError
from pipeline.stack.process import pid_alive
from pipeline.stack.services import log_dir

_POLL_S = 0.2


@dataclass(frozen=True)
class StackEndpoints:
    """Where the running stack's services listen."""

    temporal_address: str
    ui_url: str
    s3_endpoint: str
    bucket: str
    queue_url: str
    comfy_url: str | None
    """``None`` when the stack runs no comfy-sim (a real ComfyUI is used instead)."""


def pidfile_path(state_dir: Path) -> Path:
    return state_dir / "stack.pid"


def ready_file_path(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def supervisor_log_path(state_dir: Path) -> Path:
    return log_dir(state_dir) / "supervisor.log"


def write_pidfile(state_dir: Path, pid: int | None = None) -> Path:
    """Record ``pid`` (default: this process) as the stack's supervisor."""
    path = pidfile_path(state_dir)
    _write_atomically(path, f"{pid or os.getpid()}\n")
    return path


def read_pidfile(state_dir: Path) -> int | None:
    """The supervisor's pid if the pidfile names a live process, else ``None``."""
    try:
        pid = int(pidfile_path(state_dir).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def remove_pidfile(state_dir: Path, pid: int) -> None:
    """Remove the pidfile if it still names ``pid`` (a newer supervisor may own it)."""
    path = pidfile_path(state_dir)
    with contextlib.suppress(FileNotFoundError, ValueError):
        if int(path.read_text().strip()) == pid:
            path.unlink()


@dataclass(frozen=True)
class ReadyRecord:
    """The content of ``stack.json``."""

    pid: int
    endpoints: StackEndpoints
    process_groups: dict[str, int]


_RECORD = TypeAdapter(ReadyRecord)


def write_ready_file(state_dir: Path, record: ReadyRecord) -> None:
    _write_atomically(ready_file_path(state_dir), _RECORD.dump_json(record, indent=2).decode())


def _read_ready_file(state_dir: Path) -> ReadyRecord | None:
    try:
        return _RECORD.validate_json(ready_file_path(state_dir).read_bytes())
    except (FileNotFoundError, ValidationError):
        return None


async def wait_until_ready(
    state_dir: Path,
    pid: int,
    timeout: float = 120.0,  # noqa: ASYNC109 - on timeout it raises with the log tail
) -> StackEndpoints:
    """Wait for the supervisor ``pid`` to report its stack ready; for ``pipeline up --detach``.

    Raises ``StartupError`` with the tail of ``logs/supervisor.log`` if the supervisor
    exits first or the timeout passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        record = _read_ready_file(state_dir)
        if record is not None and record.pid == pid:
            return record.endpoints
        if not pid_alive(pid):
            raise StartupError("stack", "supervisor exited before it was ready", _tail(state_dir))
        if time.monotonic() >= deadline:
            raise StartupError("stack", f"not ready after {timeout:g}s", _tail(state_dir))
        await asyncio.sleep(_POLL_S)


async def stop_detached(
    state_dir: Path,
    timeout: float = 30.0,  # noqa: ASYNC109 - a grace period before SIGKILL
) -> bool:
    """SIGTERM the supervisor named by the pidfile and wait for it; for ``pipeline down``.

    If it outlives ``timeout`` it is SIGKILLed, and so is every process group it recorded,
    since its children run in their own sessions and would survive it. Returns False when
    no stack was running.
    """
    pid = read_pidfile(state_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            _kill_everything(state_dir, pid)
            break
        await asyncio.sleep(_POLL_S)
    return True


def _kill_everything(state_dir: Path, pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    record = _read_ready_file(state_dir)
    for pgid in record.process_groups.values() if record and record.pid == pid else ():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    ready_file_path(state_dir).unlink(missing_ok=True)
    remove_pidfile(state_dir, pid)


def _tail(state_dir: Path, lines: int = 40) -> str:
    try:
        text = supervisor_log_path(state_dir).read_text(errors="replace")
    except FileNotFoundError:
        return "(no supervisor log)"
    return "\n".join(text.splitlines()[-lines:])


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)
