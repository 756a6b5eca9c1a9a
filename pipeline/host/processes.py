"""Whether a process, or any process of a process group, still runs, or is stopped (through
psutil).

A zombie counts as gone: an init that does not reap (as in some containers) would otherwise
make a dead process, and so its group, look alive forever.
"""

from __future__ import annotations

import os

import psutil


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone."""
    try:
        return _running(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def pid_stopped(pid: int) -> bool:
    """True while ``pid`` is stopped (SIGSTOP, SIGTSTP or a debugger): it exists, so it looks
    alive, but runs nothing until it gets SIGCONT."""
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except psutil.Error:
        return False


def group_alive(pgid: int) -> bool:
    """True while any process but a zombie is in group ``pgid``."""
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes (zombies left out) in group ``pgid``."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and _running(process):
                members.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def _running(process: psutil.Process) -> bool:
    """Whether ``process`` is more than a zombie; raises ``psutil.NoSuchProcess`` once gone.

    On Linux a leader thread that exited before the others shows as a zombie while the
    process still runs, so a zombie leader only means gone once no other thread is left.
    psutil has no process-wide state for that case, but a thread id is a pid to it on Linux
    (``/proc/{tid}``), so each thread's own state is read; elsewhere a thread id is no pid
    and the zombie counts as gone.
    """
    try:
        if process.status() != psutil.STATUS_ZOMBIE:
            return True
        threads = process.threads()
    except psutil.AccessDenied:
        return True  # it exists, we may just not look at it (another user's, on macOS)
    except psutil.ZombieProcess:
        return False
    return any(_thread_running(thread.id) for thread in threads if thread.id != process.pid)


def _thread_running(tid: int) -> bool:
    try:
        return psutil.Process(tid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
