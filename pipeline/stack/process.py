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
from pipeline.host.processes import group_alive

_POLL_S = 0.1
_TAIL_LINES = 40
_KILL_WAIT_S = 5.0


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
