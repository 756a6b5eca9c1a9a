"""The one place sessions are started, whatever event source saw the drop.

The workflow id is derived from the drop (bucket + manifest key + ETag). A duplicate event
for a running session attaches to it (``USE_EXISTING``); one for a finished session is
refused by the server (``REJECT_DUPLICATE``) and counts as handled, unless the manifest
is back in the inbox with the same ETag, put after that session started: then the same
bytes were uploaded again, and they start a session of their own
(``DropRef.uploaded_again``). Either way the caller
may ack its event once ``start`` returns.

Given the inbox, the starter reads the manifest first, so the session is readable in the
Temporal UI from its first second: a summary line (kind · preset · frames · drop), details
with the prompt and the inputs' keys (``summary.details``), a
memo, and the search attributes operators filter on. A manifest it cannot read or parse
still starts the session: the workflow's first activity is what reports bad input.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.common import (
    Priority,
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
from pipeline.domain.errors import PipelineError
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Manifest, parse_manifest
from pipeline.ingest import summary
from pipeline.ingest.events import ParsedEvents
from pipeline.logging import get_logger
from pipeline.workflows import attributes
from pipeline.workflows.priorities import FRESH_PRIORITY
from pipeline.workflows.session import SessionWorkflow
from workflows_comfy.presets import preset_name

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

    async def get_bytes(self, key: str) -> bytes | None: ...


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
        earlier = await self._describe(drop)
        started_at = earlier.start_time if earlier is not None else None
        return await self._start_uploaded_again(drop, started_at, source=source) or outcome

    async def start_if_uploaded_again(self, drop: DropRef, *, source: str) -> StartOutcome | None:
        """For a drop whose session already ran (reconcile): start the same bytes' new upload.

        ``None`` while that session still runs (it has yet to take its manifest) or when
        the inbox holds no such upload. Works after the first workflow's history expired.
        """
        earlier = await self._describe(drop)
        if earlier is not None and earlier.status is WorkflowExecutionStatus.RUNNING:
            return None
        started_at = earlier.start_time if earlier is not None else None
        return await self._start_uploaded_again(drop, started_at, source=source)

    async def _describe(self, drop: DropRef) -> WorkflowExecutionDescription | None:
        """The drop's session workflow, ``None`` if Temporal has none (or forgot it)."""
        try:
            return await self.client.get_workflow_handle(drop.workflow_id).describe()
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
        return None

    async def _start_uploaded_again(
        self, drop: DropRef, earlier_start: datetime | None, *, source: str
    ) -> StartOutcome | None:
        """Start the manifest in the inbox as a new upload if it has ``drop``'s bytes and was
        put after the earlier session started (``earlier_start``; ``None``: unknown).

        A session that ended without taking its manifest (cancelled or terminated while it
        waited for media) leaves the very upload it started for in the inbox: that one is
        not uploaded again, and restarting it would undo the cancel.
        """
        if self.inbox is None:
            return None
        current = await self.inbox.head(drop.manifest_key)
        if (
            current is None
            or current.last_modified is None
            or normalize_etag(current.etag) != drop.etag
        ):
            return None
        if earlier_start is not None and current.last_modified <= earlier_start:
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
        manifest = await self._manifest(drop)
        pairs = [
            SearchAttributePair(attributes.SESSION_ID, session_id),
            SearchAttributePair(attributes.PIPELINE_ROLE, "session"),
            SearchAttributePair(attributes.SESSION_STATUS, "running"),
            SearchAttributePair(attributes.DROP_KEY, drop.manifest_key),
        ]
        details: str | None = None
        memo: dict[str, Any] | None = None
        if manifest is not None and self.inbox is not None:
            pairs += [
                SearchAttributePair(attributes.DROP_KIND, manifest.kind.value),
                SearchAttributePair(attributes.DROP_PRESET, preset_name(manifest)),
            ]
            inputs = {
                role: SessionLayout(session_id).input(relative)
                for role, relative in manifest.media().items()
            }
            memo = summary.memo(drop, manifest, inputs)
            details = summary.details(drop, manifest, inputs)
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
                search_attributes=TypedSearchAttributes(pairs),
                static_summary=summary.summary(drop, manifest),
                static_details=details,
                memo=memo,
                priority=Priority(priority_key=FRESH_PRIORITY),
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

    async def _manifest(self, drop: DropRef) -> Manifest | None:
        if self.inbox is None:
            return None
        try:
            raw = await self.inbox.get_bytes(drop.manifest_key)
            return None if raw is None else parse_manifest(raw)
        except PipelineError as exc:
            log.info("manifest_unreadable_at_start", key=drop.manifest_key, error=str(exc))
            return None

    async def start_all(self, drops: list[DropRef], *, source: str) -> None:
        """Start every drop; raises if any start failed, so the caller must not ack."""
        results = await asyncio.gather(
            *(self.start(drop, source=source) for drop in drops), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def handle(self, parsed: ParsedEvents, *, source: str) -> None:
        """What every event source does with a parsed event: start its drops (``start_all``),
        then warn ``drop_refused`` once per refusal. Raises as ``start_all`` does, before any
        warning, so a message the caller retries is warned about once, when it gets through.
        """
        await self.start_all(parsed.drops, source=source)
        for reason in parsed.refused:
            log.warning("drop_refused", reason=reason)


def session_options(settings: Settings) -> dict[str, Any]:
    """The ``Starter`` keywords a deployment configures (queues, deadline, media grace)."""
    return {
        "task_queue": settings.temporal_task_queue,
        "gpu_task_queue": settings.temporal_gpu_task_queue,
        "deadline_s": settings.session_deadline_s,
        "media_grace_s": settings.media_grace_s,
        "sticky_schedule_to_start_s": settings.sticky_schedule_to_start_s,
    }
