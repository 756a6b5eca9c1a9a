"""Slots of sessions that ended are freed at once, whatever ended them.

A session holds one of its GPU worker's ``MAX_OPEN_SESSIONS`` slots between two of its GPU
tasks (``pipeline.fleet.admission``). A session cancelled, failed on a CPU worker or
terminated between two segments sends no next task, so nothing on the worker would free its
slot before the sticky window (``STICKY_SCHEDULE_TO_START_S``, 600 s) ran out: two such
sessions and the worker took no new session for ten minutes. Terminate runs no workflow
code at all, so the worker asks Temporal instead: every ``GPU_HEALTH_INTERVAL_S`` while it
holds slots, it describes each holder's workflow run and frees the slot of one that is
closed, or whose ``PipelineStage`` says it is ending (``cancelled`` or ``failed``: it only
records that now and asks for no more GPU work).
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from pipeline.fleet.admission import Admission, SessionRun
from pipeline.logging import get_logger
from pipeline.workflows import attributes

log = get_logger()

ENDING_STAGES = frozenset({"cancelled", "failed"})
"""``PipelineStage`` values of a session that asks for no more GPU work (it records its
outcome and sends its callback)."""


async def has_ended(client: Client, session: SessionRun) -> str | None:
    """Why ``session`` will send no more GPU tasks (``"cancelled"``, ``"terminated"``,
    ``"failed"``, ``"gone"``, ...), or None while it runs on.

    Raises ``RPCError`` when Temporal does not answer (the slot is then kept: the sticky
    window still bounds it)."""
    handle = client.get_workflow_handle(session.workflow_id, run_id=session.run_id)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return "gone"  # deleted, or past the namespace's retention
        raise
    status = described.status
    if status is not None and status is not WorkflowExecutionStatus.RUNNING:
        return status.name.lower()
    stage = described.typed_search_attributes.get(attributes.PIPELINE_STAGE)
    return stage if stage in ENDING_STAGES else None


async def release_ended(admission: Admission, client: Client) -> list[SessionRun]:
    """Free the slot of every session holding one that has ended; returns those freed."""
    freed = []
    for session in list(admission.slots):
        try:
            why = await has_ended(client, session)
        except RPCError as exc:
            log.warning("slot_check_failed", workflow_id=session.workflow_id, error=exc.message)
            continue
        if why is not None:
            await admission.release(session)
            log.info("slot_released", workflow_id=session.workflow_id, because=why)
            freed.append(session)
    return freed


async def watch_sessions(admission: Admission, client: Client, interval_s: float) -> None:
    """Every ``interval_s`` while any session holds a slot, free those of ended sessions."""
    while True:
        await asyncio.sleep(interval_s)
        if admission.open_sessions:
            await release_ended(admission, client)
