"""``pipeline cancel`` and ``pipeline status`` on sessions, their reruns and batches.

The real dev server and SeaweedFS (``pipeline status`` reads the bucket's records), the
session stubs (``tests/integration/session_stubs.py``) as workers, and the real command
line through click: exit codes and what it says when a cancel meets a segment finishing, a
session already writing its result, a rerender, and a reprocessing batch.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from activities.edge import edge
from pipeline.cli.app import cli
from pipeline.domain.contracts import (
    LoadSessionInput,
    ReprocessRequest,
    Rerun,
    Selection,
    SessionRequest,
    TakenDrop,
)
from pipeline.domain.drop import DropRef, rerender_workflow_id
from pipeline.domain.queues import preset_queue
from pipeline.worker.run import CPU_WORKFLOWS
from pipeline.workflows import attributes, specs
from pipeline.workflows.reprocess import BATCH_WORKFLOW_PREFIX, ReprocessWorkflow
from pipeline.workflows.session import SessionWorkflow
from tests.conftest import S3Bucket, TemporalServer
from tests.helpers import eventually
from tests.integration.session_stubs import Stubs, manifest
from workflows_comfy import presets

pytestmark = pytest.mark.integration


@dataclass
class RerunStubs(Stubs):
    """The session stubs plus ``load_session``, which reruns start with."""

    loads: list[str] = field(default_factory=list)

    @activity.defn(name=specs.LOAD_SESSION.name)
    @edge
    async def load_session(self, request: LoadSessionInput) -> TakenDrop:
        self._enter(specs.LOAD_SESSION)
        self.loads.append(request.session_id)
        return self.taken(request.session_id)

    def for_queue(self, queue: specs.QueueKind) -> list[Callable[..., Any]]:
        extra = [self.load_session] if queue is specs.QueueKind.CPU else []
        return [*super().for_queue(queue), *extra]


@dataclass
class Queues:
    cpu: str
    gpu_prefix: str


@asynccontextmanager
async def workers(client: Client, stubs: RerunStubs) -> AsyncIterator[Queues]:
    """A CPU worker (sessions and batches) and a GPU worker on the preset's queue, on queues
    of this test's own."""
    run_id = uuid.uuid4().hex[:8]
    queues = Queues(cpu=f"cpu-{run_id}", gpu_prefix=f"gpu-{run_id}")
    cpu = Worker(
        client,
        task_queue=queues.cpu,
        workflows=CPU_WORKFLOWS,
        activities=stubs.for_queue(specs.QueueKind.CPU),
    )
    gpu = Worker(
        client,
        task_queue=preset_queue(queues.gpu_prefix, presets.preset_name(stubs.manifest)),
        activities=stubs.for_queue(specs.QueueKind.GPU),
        max_heartbeat_throttle_interval=timedelta(milliseconds=50),
        default_heartbeat_throttle_interval=timedelta(milliseconds=50),
    )
    async with cpu, gpu:
        yield queues


def session_request(queues: Queues, name: str, rerun: Rerun | None = None) -> SessionRequest:
    drop = DropRef.of("bucket", f"inbox/{name}-{uuid.uuid4().hex[:8]}/manifest.json", "e")
    return SessionRequest(
        drop=drop, session_id=drop.session_id, gpu_task_queue=queues.gpu_prefix, rerun=rerun
    )


async def start_session(
    client: Client, queues: Queues, request: SessionRequest, workflow_id: str | None = None
) -> WorkflowHandle[SessionWorkflow, Any]:
    return await client.start_workflow(
        SessionWorkflow.run,
        request,
        id=workflow_id or request.drop.workflow_id,
        task_queue=queues.cpu,
        execution_timeout=timedelta(minutes=2),
        # As the starter, `pipeline rerender` and batches label them (``attributes.Role``).
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(attributes.SESSION_ID, request.session_id),
                SearchAttributePair(
                    attributes.PIPELINE_ROLE, "session" if request.rerun is None else "rerun"
                ),
            ]
        ),
    )


async def pipeline(
    s3_bucket: S3Bucket, temporal_server: TemporalServer, *args: str
) -> tuple[int, Any, str]:
    """Exit code, the JSON it printed (or None), and its stderr."""
    env = s3_bucket.env(TEMPORAL_ADDRESS=temporal_server.address)
    ran: Result = await asyncio.to_thread(
        CliRunner().invoke, cli, list(args), env=env, catch_exceptions=False
    )
    printed = json.loads(ran.stdout) if "--json" in args and ran.stdout.strip() else None
    return ran.exit_code, printed, ran.stderr


async def cancel_requested(handle: WorkflowHandle[Any, Any]) -> bool:
    return any(
        [
            event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
            async for event in handle.fetch_history_events()
        ]
    )


async def test_cancel_as_a_segment_ends_still_cancels_the_session_and_exits_0(
    temporal_client: Client, temporal_server: TemporalServer, s3_bucket: S3Bucket
) -> None:
    finish = asyncio.Event()
    stubs = RerunStubs(manifest(kind="i2v", image="face.png"), finish_when=finish)
    async with workers(temporal_client, stubs) as queues:
        request = session_request(queues, "race")
        handle = await start_session(temporal_client, queues, request)
        await asyncio.wait_for(stubs.segment_started.wait(), 30)
        cancelling = asyncio.create_task(
            pipeline(s3_bucket, temporal_server, "cancel", request.session_id, "--json")
        )
        await eventually(lambda: cancel_requested(handle), 30)
        finish.set()  # The segment completes as the cancel arrives: its cancel never reaches it.
        code, printed, stderr = await cancelling
        status = (await handle.describe()).status
    assert code == 0, stderr
    assert printed["outcomes"] == {handle.id: "cancelled"}
    assert printed["after_the_end"] == []
    assert status is WorkflowExecutionStatus.CANCELED
    assert "publish_result" not in stubs.names()


async def test_a_cancel_after_the_end_says_so_and_exits_1(
    temporal_client: Client, temporal_server: TemporalServer, s3_bucket: S3Bucket
) -> None:
    written = asyncio.Event()
    stubs = RerunStubs(manifest(kind="i2v", image="face.png"), publish_when=written)
    async with workers(temporal_client, stubs) as queues:
        request = session_request(queues, "late")
        handle = await start_session(temporal_client, queues, request)
        await asyncio.wait_for(stubs.publishing.wait(), 30)
        cancelling = asyncio.create_task(
            pipeline(s3_bucket, temporal_server, "cancel", request.session_id)
        )
        await eventually(lambda: cancel_requested(handle), 30)
        written.set()  # result.json is being written: the session's outcome is decided.
        code, _, stderr = await cancelling
        await handle.result()
        again, _, again_err = await pipeline(
            s3_bucket, temporal_server, "cancel", request.session_id
        )
    assert code == 1
    assert f"{handle.id} succeeded: the cancel came after its end" in stderr
    assert again == 1
    assert "already succeeded: nothing to cancel" in again_err
    assert stubs.cancellations == []


async def test_status_and_cancel_of_a_session_see_its_running_rerender(
    temporal_client: Client, temporal_server: TemporalServer, s3_bucket: S3Bucket
) -> None:
    stubs = RerunStubs(manifest(kind="i2v", image="face.png"), hold_segments=True)
    async with workers(temporal_client, stubs) as queues:
        rerun = Rerun(batch_id="rerender1", overrides={"seed": 7})
        request = session_request(queues, "rerendered", rerun)
        rerender_id = rerender_workflow_id(request.session_id, datetime.now(UTC))
        handle = await start_session(temporal_client, queues, request, rerender_id)
        await asyncio.wait_for(stubs.segment_started.wait(), 30)
        shown, status_view, _ = await pipeline(
            s3_bucket, temporal_server, "status", request.session_id, "--json"
        )
        by_id, by_id_view, _ = await pipeline(
            s3_bucket, temporal_server, "status", rerender_id, "--json"
        )
        code, printed, stderr = await pipeline(
            s3_bucket, temporal_server, "cancel", request.session_id, "--json"
        )
        status = (await handle.describe()).status
    assert (shown, status_view["workflow_id"], status_view["status"]) == (
        0,
        rerender_id,
        "running",
    )
    assert (by_id, by_id_view["session_id"], by_id_view["stage"]) == (
        0,
        request.session_id,
        "generating",
    )
    assert code == 0, stderr
    assert printed["outcomes"] == {rerender_id: "cancelled"}
    assert status is WorkflowExecutionStatus.CANCELED
    [cancelled] = stubs.cancellations
    assert cancelled.workflow_id == rerender_id


async def test_status_and_cancel_of_a_batch_and_of_one_of_its_reruns(
    temporal_client: Client, temporal_server: TemporalServer, s3_bucket: S3Bucket
) -> None:
    stubs = RerunStubs(manifest(kind="i2v", image="face.png"), hold_segments=True)
    async with workers(temporal_client, stubs) as queues:
        batch_id = "b" + uuid.uuid4().hex[:10]
        sessions = [f"s{n}-{uuid.uuid4().hex[:6]}" for n in range(3)]
        batch = await temporal_client.start_workflow(
            ReprocessWorkflow.run,
            ReprocessRequest(
                batch_id=batch_id,
                selection=Selection(status="failed"),
                gpu_task_queue=queues.gpu_prefix,
                pending=sessions,
                bucket="bucket",
                concurrency=3,
            ),
            id=BATCH_WORKFLOW_PREFIX + batch_id,
            task_queue=queues.cpu,
            execution_timeout=timedelta(minutes=2),
        )

        async def all_rendering() -> bool:
            return len(stubs.segments) == 3

        await eventually(all_rendering, 30)
        one = f"rerun-{batch_id}-{sessions[0]}"
        one_code, one_view, one_err = await pipeline(
            s3_bucket, temporal_server, "cancel", one, "--json"
        )
        shown, status_view, _ = await pipeline(
            s3_bucket, temporal_server, "status", batch.id, "--json"
        )
        code, printed, stderr = await pipeline(
            s3_bucket, temporal_server, "cancel", batch.id, "--json"
        )
        after, after_view, _ = await pipeline(
            s3_bucket, temporal_server, "status", batch.id, "--json"
        )
        children = {
            s: (await temporal_client.get_workflow_handle(f"rerun-{batch_id}-{s}").describe())
            for s in sessions
        }
    assert one_code == 0, one_err
    assert (one_view["session_id"], one_view["outcomes"]) == (sessions[0], {one: "cancelled"})
    assert (shown, status_view["status"]) == (0, "running")
    assert status_view["counts"]["failed"] == 1  # The rerun cancelled alone ended.
    assert code == 0, stderr
    assert (printed["cancel_requested"], printed["status"]) == (True, "cancelled")
    assert (after, after_view["status"]) == (1, "cancelled")
    assert {c.status for c in children.values()} == {WorkflowExecutionStatus.CANCELED}
