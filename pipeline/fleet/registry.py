"""GPU workers announce what they can serve; ``pipeline workers`` lists the live ones.

A GPU worker writes ``_pipeline/workers/{identity}.json`` (its Temporal identity, its own
task queue, ComfyUI URL, the kinds and presets its ComfyUI accepts and, per preset it
cannot run, the node classes and model files it lacks) when it starts, rewrites it every
``REFRESH_S`` (re-reading ``/object_info``, so models added later show up and its preset
queues follow), at once when what it can do for vocal separation changes (a Demucs model
that failed to load), when its ComfyUI stops or starts answering and when a session takes
or frees one of its session slots, and deletes it when it stops. A record alone does not
prove a worker alive: a killed worker leaves its record behind (deleted, and the attempts it
held failed, when a worker of the same name, ``pipeline.domain.queues``, starts again). So a
worker is listed only if Temporal reports its identity among its own queue's pollers, or if
its record is fresh (a worker whose one slot is busy does not poll, and Temporal forgets
pollers after five minutes).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from pipeline.comfy.system import ServerInfo
from pipeline.domain.errors import ComfyError, WorkerRestarted
from pipeline.domain.queues import polled_queues
from pipeline.fleet.capabilities import Capabilities
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore

log = get_logger()

WORKERS_PREFIX = "_pipeline/workers/"
REFRESH_S = 60.0
STALE_AFTER = timedelta(seconds=3 * REFRESH_S)
"""A record older than this belongs to a worker that stopped refreshing it."""
POLL_FRESH = timedelta(seconds=90)
"""A polling worker re-polls at least every long-poll (about a minute); Temporal keeps
reporting a killed worker's last poll for minutes."""


class MissingRecord(BaseModel):
    nodes: list[str] = []
    """Node classes the ComfyUI lacks (a node pack missing or failing to import)."""
    models: list[str] = []
    """Model files no loader offers, as ``folder/file name`` under ``ComfyUI/models``."""
    bindings: list[str] = []
    """Bindings of an operator graph that the node classes refuse (``workflows_comfy.bound``)."""

    def describe(self) -> str:
        return ", ".join(
            [f"node {n}" for n in self.nodes]
            + [f"model {m}" for m in self.models]
            + [f"binding {b}" for b in self.bindings]
        )


class WorkerRecord(BaseModel):
    identity: str
    task_queue: str
    """``TEMPORAL_GPU_TASK_QUEUE``: the prefix of every GPU queue of the deployment."""
    worker_task_queue: str
    """This worker's own queue (sticky sessions); Temporal lists its pollers."""
    polling: list[str] = []
    """The shared queues this worker polls: its presets' and, if it separates, their
    separation queues."""
    comfyui_url: str
    comfyui: ServerInfo = ServerInfo()
    """Which ComfyUI answers there (version, devices), as its ``/system_stats`` says."""
    serving: dict[str, list[str]]
    """Kind → presets whose graphs this worker's ComfyUI accepts."""
    missing: dict[str, MissingRecord] = {}
    """Preset → what the ComfyUI lacks, for each preset it cannot run."""
    ready: bool = True
    """False while its ComfyUI does not answer (the worker polls nothing then)."""
    nodes: int
    """How many node types the ComfyUI reported."""
    separation: str = "unknown"
    """``demucs: {file}``, ``stand-in: {label}`` or ``unavailable: {why}``."""
    held: list[str] = []
    """Base64 task tokens of the activity attempts it runs (``retire_predecessors``)."""
    slots: dict[str, datetime] = {}
    """Workflow id → until when the session holds one of its ``MAX_OPEN_SESSIONS`` session
    slots (its next GPU task is expected here; ``pipeline.fleet.admission``)."""
    host: str = ""
    """The machine the worker runs on (``socket.gethostname()``)."""
    pid: int | None = None
    """Its process id there: on the same machine, ``status`` and ``doctor`` can tell a
    stopped process (SIGSTOP) that still looks alive from a busy one."""
    started_at: datetime
    updated_at: datetime


class LiveWorker(BaseModel):
    record: WorkerRecord
    status: Literal["polling", "busy"]
    """``busy``: the record is fresh but Temporal has no recent poll (every slot in use)."""
    last_poll: datetime | None


def record_key(identity: str) -> str:
    return f"{WORKERS_PREFIX}{quote(identity, safe='@._-')}.json"


async def publish(store: ObjectStore, record: WorkerRecord) -> None:
    await store.put_json(record_key(record.identity), record.model_dump(mode="json"))


def _describe(capabilities: Capabilities, prefix: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "polling": polled_queues(
            prefix, capabilities.presets, separates=capabilities.admission.separates
        ),
        "comfyui": capabilities.server,
        "serving": capabilities.serving,
        "missing": {
            name: MissingRecord(
                nodes=list(found.nodes), models=found.model_paths(), bindings=list(found.bindings)
            )
            for name, found in capabilities.missing.items()
        },
        "ready": capabilities.admission.ready,
        "separation": capabilities.admission.separation,
        "held": sorted(base64.b64encode(token).decode() for token in capabilities.admission.held),
        "slots": {
            session.workflow_id: now + timedelta(seconds=left)
            for session, left in capabilities.admission.slots.items()
        },
        "nodes": len(capabilities.object_info),
    }


@contextlib.asynccontextmanager
async def announce(
    store: ObjectStore,
    *,
    identity: str,
    task_queue: str,
    capabilities: Capabilities,
    refresh_s: float = REFRESH_S,
) -> AsyncIterator[WorkerRecord]:
    """Keep this worker's record in the bucket while the block runs; delete it afterwards."""
    started = datetime.now(UTC)
    record = WorkerRecord(
        identity=identity,
        task_queue=task_queue,
        worker_task_queue=capabilities.admission.worker_task_queue,
        comfyui_url=capabilities.comfy_url,
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=started,
        updated_at=started,
        **_describe(capabilities, task_queue),
    )
    await publish(store, record)
    refresher = asyncio.create_task(_refresh_forever(store, record, capabilities, refresh_s))
    try:
        yield record
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
        await store.delete(record_key(identity))


async def retire_predecessors(
    client: Client, store: ObjectStore, worker_task_queue: str, identity: str
) -> None:
    """End what an earlier process of this worker (same own queue, other identity) left.

    It was killed, so it could neither delete its record (``pipeline workers`` would list it
    for minutes) nor finish the attempts it held: each is failed with ``WorkerRestarted``,
    which the workflow reroutes at once, instead of waiting out the heartbeat timeout.
    Call it before this worker polls, so nothing of its own is taken for a predecessor's.
    """
    async for meta in store.list_keys(WORKERS_PREFIX):
        try:
            earlier = WorkerRecord.model_validate(await store.get_json(meta.key))
        except ValidationError:
            continue
        if earlier.worker_task_queue != worker_task_queue or earlier.identity == identity:
            continue
        for token in earlier.held:
            handle = client.get_async_activity_handle(task_token=base64.b64decode(token))
            failure = WorkerRestarted(f"worker {earlier.identity} was killed; {identity} took over")
            try:
                await handle.fail(ApplicationError(failure.message, type=failure.code))
            except RPCError as exc:  # the attempt ended already (timed out, rerouted)
                log.info("predecessor_attempt_gone", identity=earlier.identity, error=exc.message)
            else:
                log.warning("predecessor_attempt_failed", identity=earlier.identity)
        log.info("worker_record_retired", identity=earlier.identity, by=identity)
        await store.delete(meta.key)


async def _refresh_forever(
    store: ObjectStore, record: WorkerRecord, capabilities: Capabilities, refresh_s: float
) -> None:
    """Rewrite the record every ``refresh_s`` with what ComfyUI offers now, and at once when
    the attempts held, the session slots, ComfyUI's readiness or the separation capability
    change (doctor and status read it)."""
    admission, loop = capabilities.admission, asyncio.get_running_loop()
    due = loop.time() + refresh_s
    slots = admission.slot_marks
    while True:
        held = frozenset(base64.b64decode(token) for token in record.held)
        try:
            async with asyncio.timeout_at(due):
                await admission.announced_changed(record.separation, held, record.ready, slots)
        except TimeoutError:
            try:
                await capabilities.refresh()
            except ComfyError as exc:
                # The record keeps what ComfyUI offered last; the health check stops polling.
                log.warning("worker_record_comfy_unreadable", error=exc.message)
            due = loop.time() + refresh_s
        slots = admission.slot_marks
        record = record.model_copy(
            update={"updated_at": datetime.now(UTC), **_describe(capabilities, record.task_queue)}
        )
        await publish(store, record)


async def pollers(client: Client, task_queue: str) -> dict[str, datetime]:
    """Identity → last poll of the workers Temporal knows on ``task_queue`` (activities)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return {
        poller.identity: poller.last_access_time.ToDatetime(tzinfo=UTC)
        for poller in response.pollers
    }


async def live_workers(client: Client, store: ObjectStore, task_queue: str) -> list[LiveWorker]:
    """Workers of GPU queue prefix ``task_queue`` with a record, live by Temporal's pollers
    of their own queue or a fresh record."""
    now = datetime.now(UTC)
    live: list[LiveWorker] = []
    async for meta in store.list_keys(WORKERS_PREFIX):
        raw = await store.get_json(meta.key)
        try:
            record = WorkerRecord.model_validate(raw)
        except ValidationError:
            log.warning("worker_record_unreadable", key=meta.key)
            continue
        if record.task_queue != task_queue:
            continue
        last_poll = (await pollers(client, record.worker_task_queue)).get(record.identity)
        if last_poll is not None and now - last_poll < POLL_FRESH:
            live.append(LiveWorker(record=record, status="polling", last_poll=last_poll))
        elif now - record.updated_at < STALE_AFTER:
            live.append(LiveWorker(record=record, status="busy", last_poll=None))
    return sorted(live, key=lambda worker: worker.record.identity)
