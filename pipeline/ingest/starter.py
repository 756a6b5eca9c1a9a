"""The one place sessions are started, whatever event source saw the drop.

The workflow id is derived from the drop (bucket + manifest key + ETag). A duplicate event
for a running session attaches to it (``USE_EXISTING``); one for a finished session is
refused by the server (``REJECT_DUPLICATE``) and counts as handled. Either way the caller
may ack its event once ``start`` returns.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from pipeline.domain.contracts import SessionRequest
from pipeline.domain.drop import DropRef
from pipeline.logging import get_logger
from pipeline.workflows import attributes
from pipeline.workflows.session import SessionWorkflow

log = get_logger()


class StartOutcome(StrEnum):
    STARTED = "started"
    """Started now, or attached to the run an earlier event started."""
    ALREADY_FINISHED = "already_finished"


class Starter:
    def __init__(self, client: Client, *, task_queue: str, gpu_task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self.gpu_task_queue = gpu_task_queue

    async def start(self, drop: DropRef, *, source: str) -> StartOutcome:
        session_id = drop.session_id
        try:
            await self.client.start_workflow(
                SessionWorkflow.run,
                SessionRequest(
                    drop=drop, session_id=session_id, gpu_task_queue=self.gpu_task_queue
                ),
                id=drop.workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(attributes.SESSION_ID, session_id)]
                ),
                static_summary=f"{drop.bucket}/{drop.manifest_key}",
            )
        except WorkflowAlreadyStartedError:
            log.info("drop_already_processed", session_id=session_id, source=source)
            return StartOutcome.ALREADY_FINISHED
        log.info(
            "session_started",
            session_id=session_id,
            workflow_id=drop.workflow_id,
            source=source,
            key=drop.manifest_key,
        )
        return StartOutcome.STARTED

    async def start_all(self, drops: list[DropRef], *, source: str) -> None:
        """Start every drop; raises if any start failed, so the caller must not ack."""
        results = await asyncio.gather(
            *(self.start(drop, source=source) for drop in drops), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
