"""The one place sessions are started, whatever event source saw the drop.

The workflow id is derived from the drop (bucket + manifest key + ETag). A duplicate event
for a running session attaches to it (``USE_EXISTING``); one for a finished session is
refused by the server (``REJECT_DUPLICATE``) and counts as handled, unless the manifest
is back in the inbox with the same ETag: then the same bytes were uploaded again, and
they start a session of their own (``DropRef.uploaded_again``). Either way the caller
may ack its event once ``start`` returns.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from pipeline.config import Settings
from pipeline.domain.contracts import (
    DEFAULT_MEDIA_GRACE_S,
    DEFAULT_SESSION_DEADLINE_S,
    STICKY_SCHEDULE_TO_START_S,
    SessionRequest,
)
from pipeline.domain.drop import DropRef, normalize_etag
from pipeline.logging import get_logger
from pipeline.workflows import attributes
from pipeline.workflows.session import SessionWorkflow

log = get_logger()


class StartOutcome(StrEnum):
    STARTED = "started"
    """Started now, or attached to the run an earlier event started."""
    ALREADY_FINISHED = "already_finished"


class ManifestVersion(Protocol):
    @property
    def etag(self) -> str: ...

    @property
    def last_modified(self) -> datetime | None: ...


class Inbox(Protocol):
    """What the starter reads of the bucket (``ObjectStore`` is one)."""

    async def head(self, key: str) -> ManifestVersion | None: ...


class Starter:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        gpu_task_queue: str,
        inbox: Inbox | None = None,
        deadline_s: float = DEFAULT_SESSION_DEADLINE_S,
        media_grace_s: float = DEFAULT_MEDIA_GRACE_S,
        sticky_schedule_to_start_s: float = STICKY_SCHEDULE_TO_START_S,
    ) -> None:
        """Without ``inbox``, identical re-uploads are taken for replays (logged, not run)."""
        self.client = client
        self.task_queue = task_queue
        self.gpu_task_queue = gpu_task_queue
        self.inbox = inbox
        self.deadline_s = deadline_s
        self.media_grace_s = media_grace_s
        self.sticky_schedule_to_start_s = sticky_schedule_to_start_s

    async def start(self, drop: DropRef, *, source: str) -> StartOutcome:
        outcome = await self._start(drop, source=source)
        if outcome is StartOutcome.STARTED or drop.uploaded_at:
            return outcome
        return await self._start_uploaded_again(drop, source=source) or outcome

    async def start_if_uploaded_again(self, drop: DropRef, *, source: str) -> StartOutcome | None:
        """For a drop whose session already ran (reconcile): start the same bytes' new upload.

        ``None`` while that session still runs (it has yet to take its manifest) or when
        the inbox holds no such upload. Works after the first workflow's history expired.
        """
        try:
            described = await self.client.get_workflow_handle(drop.workflow_id).describe()
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
        else:
            if described.status is WorkflowExecutionStatus.RUNNING:
                return None
        return await self._start_uploaded_again(drop, source=source)

    async def _start_uploaded_again(self, drop: DropRef, *, source: str) -> StartOutcome | None:
        if self.inbox is None:
            return None
        current = await self.inbox.head(drop.manifest_key)
        if (
            current is None
            or current.last_modified is None
            or normalize_etag(current.etag) != drop.etag
        ):
            return None
        again = drop.uploaded_again(current.last_modified)
        log.info(
            "drop_uploaded_again",
            key=drop.manifest_key,
            earlier_session_id=drop.session_id,
            session_id=again.session_id,
        )
        return await self._start(again, source=source)

    async def _start(self, drop: DropRef, *, source: str) -> StartOutcome:
        session_id = drop.session_id
        try:
            await self.client.start_workflow(
                SessionWorkflow.run,
                SessionRequest(
                    drop=drop,
                    session_id=session_id,
                    gpu_task_queue=self.gpu_task_queue,
                    deadline_s=self.deadline_s,
                    media_grace_s=self.media_grace_s,
                    sticky_schedule_to_start_s=self.sticky_schedule_to_start_s,
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


def session_options(settings: Settings) -> dict[str, Any]:
    """The ``Starter`` keywords a deployment configures (queues, deadline, media grace)."""
    return {
        "task_queue": settings.temporal_task_queue,
        "gpu_task_queue": settings.temporal_gpu_task_queue,
        "deadline_s": settings.session_deadline_s,
        "media_grace_s": settings.media_grace_s,
        "sticky_schedule_to_start_s": settings.sticky_schedule_to_start_s,
    }
