"""Why a live GPU worker that serves a preset takes none of its work now, in one phrase.

``pipeline status`` (a session waiting on its preset's queue) and ``pipeline doctor`` read
the worker records (``pipeline.fleet.registry``); a record alone says the worker polls, so
the true reasons are told apart here:

- the process is stopped (SIGSTOP, a debugger) or gone, though its record is fresh: seen
  from the same machine only, by the record's ``host`` and ``pid``;
- its ComfyUI does not answer (hung or down): the record's ``ready`` is false;
- its ``MAX_OPEN_SESSIONS`` session slots are held by sessions whose next GPU tasks come
  to it (the record's ``slots``);
- it holds no task and is ready, yet Temporal has seen no poll of its own queue within
  ``POLL_FRESH``: frozen on another machine, or cut off from Temporal (an idle worker's
  own queue always polls, ``pipeline.fleet.admission``).
"""

from __future__ import annotations

import socket
from datetime import datetime

from pipeline.domain.drop import session_id_of_workflow
from pipeline.fleet.admission import MAX_OPEN_SESSIONS
from pipeline.fleet.registry import POLL_FRESH, LiveWorker
from pipeline.host.processes import pid_alive, pid_stopped


def process_state(worker: LiveWorker) -> str | None:
    """``"stopped"`` or ``"gone"`` for a worker on this machine whose process is so, else None
    (running, or on another machine)."""
    record = worker.record
    if record.pid is None or record.host != socket.gethostname():
        return None
    if pid_stopped(record.pid):
        return "stopped"
    return None if pid_alive(record.pid) else "gone"


def held_slots(worker: LiveWorker, now: datetime) -> list[str]:
    """Session ids holding one of the worker's session slots at ``now``."""
    return [
        session_id_of_workflow(workflow_id)
        for workflow_id, until in sorted(worker.record.slots.items())
        if until > now
    ]


def fault(worker: LiveWorker) -> str | None:
    """What is wrong with ``worker`` (stopped or gone, its ComfyUI not answering, no poll
    though idle), with what to do; None when nothing is."""
    record = worker.record
    state = process_state(worker)
    if state == "stopped":
        return (
            f"worker {record.identity} (pid {record.pid}) is stopped (SIGSTOP or a debugger) "
            f"though its record looks alive: 'kill -CONT {record.pid}' resumes it"
        )
    if state == "gone":
        return (
            f"worker {record.identity} (pid {record.pid}) is gone; its record is left over: "
            "start 'pipeline worker gpu' again"
        )
    if not record.ready:
        return (
            f"worker {record.identity}: its ComfyUI at {record.comfyui_url} does not answer "
            "(hung or down), so it polls nothing: restart ComfyUI"
        )
    if worker.status == "busy" and not record.held:
        return (
            f"worker {record.identity} holds no task but has not polled Temporal for over "
            f"{POLL_FRESH.total_seconds():.0f} s (frozen, e.g. SIGSTOP, or cut off from "
            "Temporal): check the process on its machine"
        )
    return None


def not_taking(worker: LiveWorker, now: datetime) -> str | None:
    """Why ``worker`` takes no new session's GPU work at ``now`` (a ``fault``, or its session
    slots all held), or None when it does (or will, once the prompt it runs is done)."""
    found = fault(worker)
    if found is not None:
        return found
    sessions = held_slots(worker, now)
    if len(sessions) >= MAX_OPEN_SESSIONS:
        return (
            f"worker {worker.record.identity} holds its {len(sessions)} session slots for "
            f"{', '.join(sessions)} (their next segments come to it; a slot is freed when its "
            "session ends): start another GPU worker to run more sessions at once"
        )
    return None
