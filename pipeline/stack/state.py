"""What a running stack leaves in its state dir, so another process can find and stop it.

``stack.pid``   the supervisor's pid, written as soon as it runs
``stack.json``  its endpoints, written once ready
``processes.json``  the process group, command and restarts of every child, rewritten at each
                (re)start, so ``pipeline down`` can stop children whose supervisor died
``logs/supervisor.log``  where a detached supervisor's own output should go
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from pipeline.domain.errors import StartupError
from pipeline.host.processes import group_members, pid_alive
from pipeline.stack.services import log_dir

_POLL_S = 0.2


@dataclass(frozen=True)
class StackEndpoints:
    """Where the running stack's services listen."""

    temporal_address: str
    ui_url: str
    s3_endpoint: str
    bucket: str
    events: str
    """Where the ingest consumer reads bucket events from (for people, not parsed)."""
    comfy_url: str | None
    """``None`` when the stack runs no ComfyUI (the workers use one the machine has)."""
    comfy_source: str | None = None
    """What answers at ``comfy_url``: ``comfy-sim``, or the ComfyUI checkout it runs."""
    metrics: dict[str, str] = field(default_factory=dict)
    """Child name → its Prometheus ``/metrics`` URL (``METRICS_PORT`` set)."""


def pidfile_path(state_dir: Path) -> Path:
    return state_dir / "stack.pid"


def ready_file_path(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def processes_file_path(state_dir: Path) -> Path:
    return state_dir / "processes.json"


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


@dataclass(frozen=True)
class ProcessRecord:
    """One child of the stack as ``processes.json`` keeps it."""

    pid: int
    """Also its process group id: every child leads its own session."""
    command: str
    """``argv[0]``, to tell our process from another that reused the pid."""
    restarts: int = 0
    last_exit: int | None = None
    """The return code of its last unexpected exit (negative: killed by that signal)."""


@dataclass(frozen=True)
class ProcessTable:
    """The content of ``processes.json``."""

    supervisor: int
    processes: dict[str, ProcessRecord]


_RECORD = TypeAdapter(ReadyRecord)
_TABLE = TypeAdapter(ProcessTable)


def write_ready_file(state_dir: Path, record: ReadyRecord) -> None:
    _write_atomically(ready_file_path(state_dir), _RECORD.dump_json(record, indent=2).decode())


def _read_ready_file(state_dir: Path) -> ReadyRecord | None:
    try:
        return _RECORD.validate_json(ready_file_path(state_dir).read_bytes())
    except (FileNotFoundError, ValidationError):
        return None


def read_ready_file(state_dir: Path) -> StackEndpoints | None:
    """The endpoints of the stack running from ``state_dir``, if its supervisor lives."""
    record = _read_ready_file(state_dir)
    if record is None or read_pidfile(state_dir) != record.pid:
        return None
    return record.endpoints


def write_process_table(state_dir: Path, table: ProcessTable) -> None:
    _write_atomically(processes_file_path(state_dir), _TABLE.dump_json(table, indent=2).decode())


def read_process_table(state_dir: Path) -> ProcessTable | None:
    try:
        return _TABLE.validate_json(processes_file_path(state_dir).read_bytes())
    except (FileNotFoundError, ValidationError):
        return None


def leftover_processes(state_dir: Path) -> dict[str, int]:
    """Name → pid of recorded children still running although their supervisor is gone."""
    table = read_process_table(state_dir)
    if table is None or pid_alive(table.supervisor):
        return {}
    return {name: p.pid for name, p in table.processes.items() if _still_ours(p)}


def _still_ours(record: ProcessRecord) -> bool:
    """Whether the group lives and its leader, if alive, still runs the recorded command.

    Linux does not hand out a pid that is still some group's id, so live members of the
    group are the recorded child's own processes.
    """
    if not group_members(record.pid):
        return False
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
    except OSError:
        return True
    return cmdline.split(b"\0", 1)[0].decode(errors="replace") == record.command


async def wait_until_ready(
    state_dir: Path,
    pid: int,
    timeout: float = 240.0,  # noqa: ASYNC109 - on timeout it raises with the log tail
) -> StackEndpoints:
    """Wait for the supervisor ``pid`` to report its stack ready; for ``pipeline up --detach``.

    The default outlasts the supervisor's own bounds (services answering, then workers
    polling: ``StackConfig.ready_timeout`` + ``poll_timeout``), so its error is the one seen.

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
    """Stop the stack of ``state_dir``; for ``pipeline down``. False when nothing ran.

    SIGTERMs the supervisor named by the pidfile and waits for it. If it outlives
    ``timeout``, or had died and left its children running (they run in sessions of their
    own), every process group recorded in ``processes.json`` gets SIGTERM and then SIGKILL.
    """
    pid = read_pidfile(state_dir)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid):
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                break
            await asyncio.sleep(_POLL_S)
    leftovers = leftover_processes(state_dir)
    await _stop_groups(list(leftovers.values()), grace=min(timeout, 10.0))
    if pid is not None or leftovers:
        ready_file_path(state_dir).unlink(missing_ok=True)
        if pid is not None:
            remove_pidfile(state_dir, pid)
    return pid is not None or bool(leftovers)


async def _stop_groups(groups: list[int], grace: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
        deadline = time.monotonic() + grace
        while True:
            if not any(group_members(pgid) for pgid in groups):
                return
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(_POLL_S)


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
