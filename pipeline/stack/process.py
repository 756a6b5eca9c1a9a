"""One child process in its own process group, logging to a file.

Launchers such as ``temporal`` may fork the real server, so signals always go to the whole
group: stopping only the leader would orphan the grandchild and keep its ports bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from pipeline.domain.errors import StartupError

_POLL_S = 0.1
_TAIL_LINES = 40
_KILL_WAIT_S = 5.0
_PROC = Path("/proc")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


PORT_RACE_TRIES = 3
"""Starts of a process that keeps losing the race for a port it picked itself."""


def lost_port_race(error: StartupError) -> bool:
    """Whether ``error`` is an early exit on a port taken between being picked and bound.

    The Temporal dev server picks free ports for its internal services (history, matching)
    itself and binds them moments later; another process can take one in between (seen
    under the test suite's load: ``bind: address already in use``, then a panic). A new
    start picks new ports. Ports the stack configures are checked before it starts
    (``PortInUse``), so this is the only way an early bind failure happens.
    """
    return "exited early" in str(error) and "address already in use" in error.log_tail


async def start_ready(
    process: ManagedProcess,
    check: Callable[[], Awaitable[bool]],
    timeout: float,  # noqa: ASYNC109 - passed on to wait_ready
    *,
    launch: Callable[[ManagedProcess], None] | None = None,
) -> None:
    """Start ``process`` (through ``launch``, which may record it, else ``start``/``restart``)
    and wait for ``check``; start it again, up to ``PORT_RACE_TRIES`` times in all, while it
    exits having lost a port race. Raises the last ``StartupError`` otherwise."""

    def plain(process: ManagedProcess) -> None:
        if process.pid is None:
            process.start()
        else:
            process.restart()

    start = launch or plain
    for attempt in range(1, PORT_RACE_TRIES + 1):
        start(process)
        try:
            await process.wait_ready(check, timeout)
            return
        except StartupError as exc:
            if attempt == PORT_RACE_TRIES or not lost_port_race(exc):
                raise
        await process.stop()  # the whole group: a half-started server may hold ports


class ManagedProcess:
    """``argv`` run in a new session, stdout and stderr appended to ``log_dir/{name}.log``.

    ``env`` is the child's complete environment; ``None`` inherits this process's.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )

    def restart(self) -> None:
        """Start again once the last run is over (its whole group gone); logs append."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        if self._popen.poll() is None or group_alive(self._popen.pid):
            raise RuntimeError(f"{self.name} still runs; stop it first")
        self._popen = None
        self.start()

    @property
    def pid(self) -> int | None:
        """Also the process group id, since the child leads its own session."""
        return self._popen.pid if self._popen else None

    @property
    def returncode(self) -> int | None:
        """``None`` while running (or never started); negative for a signal."""
        return self._popen.poll() if self._popen else None

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(
        self,
        check: Callable[[], Awaitable[bool]],
        timeout: float,  # noqa: ASYNC109 - on timeout it raises with the log tail
    ) -> None:
        """Poll ``check`` until it returns True; raise ``StartupError`` on exit or timeout.

        Exceptions from ``check`` count as "not ready yet": a server that is still
        binding its port refuses connections.
        """
        if self._popen is None:
            raise RuntimeError(f"{self.name} was not started")
        deadline = time.monotonic() + timeout
        while True:
            code = self._popen.poll()
            if code is not None:
                raise StartupError(self.name, f"exited early with code {code}", self.log_tail())
            try:
                if await check():
                    return
            except Exception:
                pass
            if time.monotonic() >= deadline:
                raise StartupError(self.name, f"not ready after {timeout:g}s", self.log_tail())
            await asyncio.sleep(_POLL_S)

    async def stop(self, timeout: float = 10.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM the group, wait up to ``timeout``, then SIGKILL it. Safe to call twice.

        The timeout is a grace period before escalating, not a cancellation, hence a plain
        argument rather than ``asyncio.timeout``.
        """
        if self._popen is None:
            return None
        pgid = self._popen.pid
        if self._popen.poll() is not None and not group_alive(pgid):
            return self._popen.returncode
        _signal_group(pgid, signal.SIGTERM)
        if not await self._wait_gone(pgid, timeout):
            _signal_group(pgid, signal.SIGKILL)
            # A process stuck in the kernel (state D) ignores even SIGKILL; don't hang on it.
            await self._wait_gone(pgid, _KILL_WAIT_S)
        return self._popen.returncode

    async def _wait_gone(self, pgid: int, timeout: float) -> bool:  # noqa: ASYNC109
        assert self._popen is not None
        deadline = time.monotonic() + timeout
        while self._popen.poll() is None or group_alive(pgid):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_S)
        return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """True while any process but a zombie is in group ``pgid``."""
    if not _PROC.is_dir():
        return _signal_zero(-pgid)
    return bool(group_members(pgid))


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone."""
    if not _PROC.is_dir():
        return _signal_zero(pid)
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return _running(_PROC / str(pid), _stat_fields(stat)[0])


def _signal_zero(pid: int) -> bool:
    """Whether ``kill(pid, 0)`` finds a process (or, for a negative pid, a group)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in group ``pgid`` (Linux ``/proc``).

    Zombies are left out because an init that does not reap (as in some containers)
    would otherwise make a dead group look alive forever.
    """
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, group = _stat_fields(stat)[:3]
        if int(group) == pgid and _running(entry, state):
            members.append(int(entry.name))
    return members


def _running(entry: Path, leader_state: str) -> bool:
    """Whether ``/proc/{pid}`` is more than a zombie.

    A leader thread that exited before the others shows "Z" while the process still runs,
    so a zombie leader is only dead once no other thread is left.
    """
    if leader_state != "Z":
        return True
    try:
        tasks = list((entry / "task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            if _stat_fields((task / "stat").read_text())[0] != "Z":
                return True
        except OSError:
            continue
    return False


def _stat_fields(stat: str) -> list[str]:
    """Fields of ``/proc/{pid}/stat`` after the command name, state first."""
    # The command name may hold spaces and parentheses, so split after the last ')'.
    return stat[stat.rindex(")") + 2 :].split()
