"""A session as an operator or user sees it: Temporal's view joined with the bucket's records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from pipeline.cli.callback_view import CallbackStatus, callback_status, pending_callback
from pipeline.cli.context import NotFound
from pipeline.config import Settings
from pipeline.domain.contracts import SessionProgress
from pipeline.domain.drop import (
    RERENDER_ID_PREFIX,
    RERUN_ID_PREFIX,
    WORKFLOW_ID_PREFIX,
    session_id_of_workflow,
)
from pipeline.domain.errors import InternalError, StorageError
from pipeline.domain.layout import SessionLayout
from pipeline.domain.media_names import waiting_for_media
from pipeline.domain.queues import (
    WORKER_INFIX,
    is_separation_queue,
    is_worker_queue,
    preset_queue,
)
from pipeline.domain.records import ErrorRecord, RunRecord, SessionRecord
from pipeline.fleet.diagnose import not_taking
from pipeline.fleet.registry import POLL_FRESH, live_workers, pollers
from pipeline.storage import Links, ObjectStore
from pipeline.temporal_client import namespace_error, namespace_missing
from pipeline.workflows import specs
from pipeline.workflows.session import SessionWorkflow
from pipeline.workflows.specs import QueueKind

R = TypeVar("R", SessionRecord, ErrorRecord)

TERMINAL = {"succeeded", "failed", "cancelled", "terminated", "timed_out"}
OUTCOMES = {"succeeded", "failed", "cancelled"}
"""The stages a session sets once it has written (or is writing) its record."""

FAILURE_SHOWN = 400
"""Characters of a retrying step's last failure message that ``status`` shows."""


class Retrying(BaseModel):
    """A step that failed and is being retried: what Temporal's describe says of the pending
    activity (``pending_activities[].attempt`` and ``.last_failure``)."""

    activity: str
    attempt: int
    """The attempt running or scheduled next (2: it failed once)."""
    code: str | None = None
    """The failure's type: the pipeline error's code (``comfy_execution_failed``,
    ``storage``), ``timeout`` for a timeout, ``None`` where Temporal gives none."""
    message: str
    next_attempt_at: datetime | None = None
    """When the next attempt is scheduled (while backing off), else ``None``."""


class SessionStatus(BaseModel):
    session_id: str
    workflow_id: str
    status: str
    """``pending`` (no workflow yet), ``running``, ``succeeded``, ``failed``, ..."""
    stage: str | None = None
    segments_done: int = 0
    segments_total: int = 0
    activity: dict[str, Any] | None = None
    """The running activity's latest heartbeat (node, step/total), when there is one."""
    retrying: Retrying | None = None
    """While a step retries: its attempt and last failure (``None`` on its first attempt)."""
    progress: SessionProgress | None = None
    """The workflow's ``progress`` query: segment, node, sampler step/total, frames, ETA."""
    error: ErrorRecord | None = None
    """``error.json``, as stored."""
    urls: dict[str, str] = {}
    """A URL of every object, minted now from the keys (the records' own may have expired)."""
    public: list[str] = []
    """The names in ``urls`` public under ``R2_PUBLIC_URL`` (the outputs ``PUBLIC_OUTPUTS``
    lists); they do not expire."""
    expires_at: datetime | None = None
    """When the other, presigned ``urls`` stop working (``PRESIGN_EXPIRY_S`` from now); None
    when every one is public or there are none. Run ``status`` again for new ones."""
    result: SessionRecord | None = None
    """``result.json``, as stored."""
    runs: list[RunRecord] = []
    """Every run of the session, reruns included: run id, status, parameters changed, and
    the combined video's key and a fresh URL."""
    callback: CallbackStatus | None = None
    """The completion callback of a finished session: pending, retrying, delivered, given
    up... (``pipeline.cli.callback_view``); None while the session runs, or if none was sent."""

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


_STATUS_NAMES = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "succeeded",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "running",
}


def status_name(status: WorkflowExecutionStatus) -> str:
    """The pipeline's word for a Temporal execution status (``COMPLETED`` → ``succeeded``)."""
    return _STATUS_NAMES.get(status, "running")


def no_such_session(session_id: str) -> NotFound:
    """What ``status``, ``tail`` and ``cancel`` say (exit 3) when Temporal has no workflow."""
    return NotFound(
        f"no session {session_id}: Temporal knows no such workflow; check the id "
        "('pipeline drop' prints it), or retry if its manifest was uploaded just now"
    )


def workflow_id_for(session_or_workflow_id: str) -> str:
    if session_or_workflow_id.startswith((WORKFLOW_ID_PREFIX, RERENDER_ID_PREFIX, RERUN_ID_PREFIX)):
        return session_or_workflow_id
    return WORKFLOW_ID_PREFIX + session_or_workflow_id


async def session_status(client: Client, settings: Settings, identifier: str) -> SessionStatus:
    workflow_id = workflow_id_for(identifier)
    session_id = session_id_of_workflow(workflow_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if namespace_missing(exc):  # deleted since connecting: not a missing session
            raise namespace_error(client.namespace, settings.temporal_address) from None
        if exc.status is RPCStatusCode.NOT_FOUND:
            return SessionStatus(session_id=session_id, workflow_id=workflow_id, status="pending")
        raise
    status = status_name(description.status or WorkflowExecutionStatus.RUNNING)
    view = SessionStatus(session_id=session_id, workflow_id=workflow_id, status=status)
    if status == "running":
        pending = description.raw_description.pending_activities
        view = view.model_copy(update={"retrying": retrying(pending)})
        try:
            progress = await handle.query(SessionWorkflow.progress)
        except RPCError as exc:
            if exc.status is RPCStatusCode.UNAVAILABLE:  # Temporal itself is gone
                raise
            # No worker answered the query (all busy or down): report what Temporal knows.
            return view.model_copy(update={"stage": "waiting for a worker"})
        if progress.stage in OUTCOMES:
            # Asked after the query, so a record still being written shows as pending here.
            description = await handle.describe()
            status = status_name(description.status or WorkflowExecutionStatus.RUNNING)
            view = view.model_copy(update={"status": status})
            notify = description.raw_description.pending_activities
            if status == "running" and all(
                p.activity_type.name == specs.NOTIFY_COMPLETION.name for p in notify
            ):
                # Recorded: only the callback of a session started before it had its own
                # workflow is left, and it cannot hold the outcome.
                callback = pending_callback(workflow_id, notify[0]) if notify else None
                final = view.model_copy(update={"status": progress.stage, "callback": callback})
                return await with_records(final, settings)
    if status == "running":
        pending = description.raw_description.pending_activities
        heartbeat = None
        if pending and pending[0].heartbeat_details.payloads:
            heartbeat = json.loads(pending[0].heartbeat_details.payloads[0].data or b"null")
        stage = (
            waiting_for_media(progress.waiting_for, progress.drop_folder)
            if progress.waiting_for
            else progress.stage
        )
        if pending and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED:
            stage += await _nobody_polls(client, settings, pending[0], progress.preset)
        elif pending and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            stage += silent_worker(pending[0], datetime.now(UTC))
        previews = await _preview_urls(settings, progress.previews) if progress.previews else None
        return view.model_copy(
            update={
                "stage": stage,
                "progress": progress,
                "urls": previews.urls if previews else {},
                "public": previews.public if previews else [],
                "expires_at": previews.expires_at if previews else None,
                "segments_done": progress.segments_done,
                "segments_total": progress.segments_total,
                "activity": {"name": pending[0].activity_type.name, "heartbeat": heartbeat}
                if pending
                else None,
            }
        )
    callback = await callback_status(client, session_id, description.run_id)
    return await with_records(view.model_copy(update={"callback": callback}), settings)


def retrying(pending: Sequence[PendingActivityInfo]) -> Retrying | None:
    """The pending activity past its first attempt with a recorded failure (the latest
    attempt's, where several are), else ``None``: a step that is retrying, and why."""
    failed = [p for p in pending if p.attempt > 1 and p.HasField("last_failure")]
    if not failed:
        return None
    latest = max(failed, key=lambda p: p.attempt)
    failure = latest.last_failure
    if failure.HasField("application_failure_info"):
        code: str | None = failure.application_failure_info.type or None
    elif failure.HasField("timeout_failure_info"):
        code = "timeout"
    else:
        code = None
    message = " ".join(failure.message.split()) or "(no message)"
    if len(message) > FAILURE_SHOWN:
        message = message[: FAILURE_SHOWN - 1] + "…"
    upcoming = latest.next_attempt_schedule_time
    return Retrying(
        activity=latest.activity_type.name,
        attempt=latest.attempt,
        code=code,
        message=message,
        next_attempt_at=upcoming.ToDatetime(tzinfo=UTC) if upcoming.seconds else None,
    )


async def _preview_urls(settings: Settings, keys: list[str]) -> Links:
    """URLs of the segment previews made so far and when they stop working (``follow`` asks
    twice a second: the store is opened only once there is one)."""
    async with ObjectStore(settings) as store:
        return await store.links(
            {f"preview_segment_{index:03d}": key for index, key in enumerate(keys)}
        )


def silent_worker(pending: PendingActivityInfo, now: datetime) -> str:
    """`` · waiting for worker X, silent for N s ...`` for a started attempt whose worker has
    been silent for over half its heartbeat timeout (it beats every ``GPU_HEARTBEAT_S``, 10
    s, at the least, so it is most likely dead), else ``""``. The step and ETA shown are
    that attempt's last; Temporal retries it once the timeout has passed."""
    timeout = next(
        (spec.policy.heartbeat for spec in specs.ALL if spec.name == pending.activity_type.name),
        None,
    )
    beats = [
        stamp.ToDatetime(tzinfo=UTC)
        for stamp in (pending.last_heartbeat_time, pending.last_started_time)
        if stamp.seconds
    ]
    if timeout is None or not beats:
        return ""
    silent_s = (now - max(beats)).total_seconds()
    if silent_s <= timeout.total_seconds() / 2:
        return ""
    left_s = max(timeout.total_seconds() - silent_s, 0.0)
    return (
        f" · waiting for worker {pending.last_worker_identity or '?'}, silent for "
        f"{silent_s:.0f} s: the attempt is retried elsewhere in {left_s:.0f} s "
        "(heartbeat timeout)"
    )


async def _nobody_polls(
    client: Client, settings: Settings, pending: PendingActivityInfo, preset: str | None
) -> str:
    """`` · waiting for ...`` when no worker polls the queue the scheduled activity is on.

    GPU work waits on its preset's queue (``gpu.{preset}``), which only workers whose
    ComfyUI can run the preset poll, and vocal separation on the preset's separation queue
    (``gpu.{preset}.separation``), which only those of them with a Demucs model poll: the
    session waits, never fails, until one comes up. The queue is the one Temporal reports
    for the activity, else the one its spec implies.

    Temporal lists a worker among a queue's pollers for minutes after its last poll, so a
    listed GPU worker counts while its record says it polls the queue (a busy worker pauses
    polling while it holds work; one whose Demucs model failed to load stops at once). When
    every GPU worker whose record says it polls the queue is held back, the reasons are
    said instead: stopped (SIGSTOP) or gone, ComfyUI not answering, session slots held by
    named sessions, no poll though idle.
    """
    activity_name = pending.activity_type.name
    gpu = any(spec.name == activity_name and spec.queue is QueueKind.GPU for spec in specs.ALL)
    prefix = settings.temporal_gpu_task_queue
    queue = pending.activity_options.task_queue.name or (
        preset_queue(prefix, preset or "") if gpu else settings.temporal_task_queue
    )
    if is_worker_queue(prefix, queue):
        return await _sticky_worker_gone(client, settings, pending, queue, preset)
    if is_separation_queue(queue):
        who, start = (
            f"a worker that serves preset {preset} and can separate vocals",
            "point DEMUCS_MODEL_PATH of a GPU worker that serves it at a usable Demucs "
            "model, or drop with "
            '"separate_vocals": false for clean speech',
        )
    elif gpu:
        who, start = (
            f"a worker that serves preset {preset}",
            "start 'pipeline worker gpu' beside a ComfyUI with the preset's models",
        )
    else:
        who, start = "a CPU worker", "start 'pipeline worker cpu'"
    polled = await pollers(client, queue)
    if gpu:
        held_back = await _held_back(client, settings, queue)
        if held_back:
            return f" · waiting for {who}: " + "; ".join(held_back)
    if polled and await _someone_polls(client, settings, queue, polled, gpu=gpu):
        return ""
    return f" · waiting for {who}: none polls task queue {queue!r} ({start})"


async def _held_back(client: Client, settings: Settings, queue: str) -> list[str]:
    """Why each live GPU worker whose record says it polls ``queue`` takes none of its work
    (``pipeline.fleet.diagnose``); empty when one of them takes it, none says it polls the
    queue, or the records cannot be read."""
    try:
        async with ObjectStore(settings) as store:
            workers = await live_workers(client, store, settings.temporal_gpu_task_queue)
    except StorageError:
        return []
    now = datetime.now(UTC)
    reasons = [not_taking(w, now) for w in workers if queue in w.record.polling]
    return [] if None in reasons else [reason for reason in reasons if reason]


async def _sticky_worker_gone(
    client: Client,
    settings: Settings,
    pending: PendingActivityInfo,
    queue: str,
    preset: str | None,
) -> str:
    """`` · waiting for worker X, which stopped polling ...`` for a sticky task whose worker
    is gone (killed, drained, or a restarted stack's old process), else ``""``.

    A session's later GPU tasks go to the worker that ran its first; Temporal lists a dead
    worker among the pollers for minutes, so only a poll within ``POLL_FRESH`` counts. The
    task returns to the preset's queue ``STICKY_SCHEDULE_TO_START_S`` after it was
    scheduled.
    """
    if _polled_recently(await pollers(client, queue)):
        return ""
    waited = (datetime.now(UTC) - pending.scheduled_time.ToDatetime(tzinfo=UTC)).total_seconds()
    left = max(settings.sticky_schedule_to_start_s - waited, 0.0)
    return (
        f" · waiting for worker {queue.split(WORKER_INFIX, 1)[1]}, which stopped polling; "
        f"the task goes back to preset {preset}'s queue in {left:.0f} s "
        "(STICKY_SCHEDULE_TO_START_S)"
    )


async def _someone_polls(
    client: Client, settings: Settings, queue: str, polled: dict[str, datetime], *, gpu: bool
) -> bool:
    """Whether a worker Temporal lists among ``queue``'s pollers still polls it.

    A GPU worker does while its record says so (when the records cannot be read: while it
    polled within ``POLL_FRESH``), any other worker while it polled within ``POLL_FRESH``.
    """
    if gpu:
        try:
            async with ObjectStore(settings) as store:
                workers = await live_workers(client, store, settings.temporal_gpu_task_queue)
        except StorageError:
            pass
        else:
            return any(w.record.ready and queue in w.record.polling for w in workers)
    return _polled_recently(polled)


async def _record(store: ObjectStore, key: str, model: type[R]) -> R | None:
    """The record stored under ``key``, None when there is none; ``InternalError`` naming the
    key and the first wrong field when what is stored is not one (``schema result|error``)."""
    document = await store.get_json(key)
    if document is None:
        return None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise InternalError(f"{key} does not match its schema: {where}: {first['msg']}") from exc


def _polled_recently(polled: dict[str, datetime]) -> bool:
    """Whether any of these pollers polled within ``POLL_FRESH`` (Temporal lists a worker
    for minutes after its last poll)."""
    now = datetime.now(UTC)
    return any(now - last < POLL_FRESH for last in polled.values())


async def with_records(view: SessionStatus, settings: Settings) -> SessionStatus:
    """Attach ``result.json`` / ``error.json`` and fresh URLs for every output."""
    layout = SessionLayout(view.session_id)
    async with ObjectStore(settings) as store:
        result = await _record(store, layout.result, SessionRecord)
        error = await _record(store, layout.error, ErrorRecord)
        keys: dict[str, str] = {}
        segments = 0
        if result is not None:
            keys = {**result.objects, "result": layout.result}
            segments = sum(1 for name in result.objects if name.startswith("segment_"))
        if error is not None:
            keys["error"] = layout.error
        record = result if result is not None else error
        listed = [run for run in (record.runs if record is not None else None) or []]
        combined = {str(index): run.combined for index, run in enumerate(listed) if run.combined}
        links = await store.links(keys)
        videos = await store.links(combined)
        runs = [
            run.model_copy(
                update={
                    "combined_url": videos.urls[str(index)],
                    "expires_at": None if str(index) in videos.public else videos.expires_at,
                }
            )
            if run.combined
            else run
            for index, run in enumerate(listed)
        ]
    stage = view.stage
    if result is not None:
        stage = "succeeded"
    elif error is not None:
        stage = error.status
    # A session's status is its latest run's: a failure a rerun fixed reads succeeded.
    latest = runs[-1].status if runs else None
    status = latest if latest in TERMINAL else view.status
    return view.model_copy(
        update={
            "status": status,
            "result": result,
            "error": error,
            "urls": links.urls,
            "public": links.public,
            "expires_at": links.expires_at,
            "stage": stage,
            "segments_done": segments,
            "segments_total": segments,
            "runs": runs,
        }
    )
