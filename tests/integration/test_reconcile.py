"""Reconcile: a lost event delays a session but never loses it; finished drops stay done."""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import structlog
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow

from activities.reconcile import ReconcileActivities
from pipeline.domain.contracts import ReconcileReport, ReconcileRequest
from pipeline.domain.layout import SessionLayout
from pipeline.ingest.schedule import (
    RECONCILE_SCHEDULE_ID,
    Applied,
    apply_reconcile_schedule,
)
from pipeline.logging import configure_logging
from pipeline.stack.seaweedfs import SeaweedPorts
from pipeline.storage import ObjectStore, sync_s3
from pipeline.workflows.reconcile import ReconcileWorkflow
from tests.conftest import TemporalServer
from tests.helpers import eventually, executions, fresh_queue, new_worker
from tests.integration.ingest_support import (
    IngestEnv,
    exists,
    ingest_env,
    one_workflow,
    put_manifest,
)

pytestmark = pytest.mark.integration

HISTORIES = Path(__file__).parents[1] / "replay" / "histories" / "reconcile"


@pytest_asyncio.fixture(loop_scope="session")
async def reconciler(
    seaweedfs: SeaweedPorts, temporal_server: TemporalServer, temporal_client: Client
) -> AsyncIterator[tuple[IngestEnv, str]]:
    """A bucket nobody sends events for, and a worker running reconcile on its own queue."""
    env = ingest_env(seaweedfs.s3_endpoint, temporal_server, temporal_client, with_queue=False)
    async with ObjectStore(env.settings) as store:
        activities = ReconcileActivities(store, env.starter)
        worker = new_worker(
            temporal_client,
            ReconcileWorkflow,
            activities=[activities.reconcile_inbox],
            task_queue=fresh_queue("reconcile"),
        )
        async with worker:
            yield env, worker.task_queue


async def reconcile(
    env: IngestEnv, queue: str, grace_s: float = 900, *, record_as: str | None = None
) -> ReconcileReport:
    workflow_id = f"reconcile-test-{uuid.uuid4().hex[:8]}"
    report = await env.client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileRequest(orphan_grace_s=grace_s),
        id=workflow_id,
        task_queue=queue,
        execution_timeout=timedelta(seconds=60),
    )
    # Refresh the committed replay histories: PIPELINE_RECORD_HISTORIES=1 pytest ...
    if record_as and os.environ.get("PIPELINE_RECORD_HISTORIES") == "1":
        history = await env.client.get_workflow_handle(workflow_id).fetch_history()
        HISTORIES.mkdir(parents=True, exist_ok=True)
        (HISTORIES / f"{record_as}.json").write_text(history.to_json())
    return report


@contextmanager
def worker_logging() -> Iterator[None]:
    """``configure_logging`` as the stack's workers run it (JSON); the test's logging after."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    configure_logging("json")
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


def put(env: IngestEnv, key: str, body: bytes = b"media") -> None:
    sync_s3(env.settings).put_object(Bucket=env.bucket, Key=key, Body=body)


async def test_a_drop_whose_event_was_never_sent_is_started(
    reconciler: tuple[IngestEnv, str],
) -> None:
    env, queue = reconciler
    put(env, "inbox/unsent/face.png")
    drop = put_manifest(env, "unsent", {"kind": "i2v", "image": "face.png"})

    report = await reconcile(env, queue, record_as="starts_one_drop")

    assert (report.manifests, report.started, report.orphans) == (1, 1, 0)
    assert report.started_sessions == [drop.session_id]
    assert await one_workflow(env.client, drop.workflow_id) == 1


async def test_finished_drops_and_drops_already_in_sessions_are_not_started_again(
    reconciler: tuple[IngestEnv, str],
) -> None:
    env, queue = reconciler
    finished = put_manifest(env, "finished")
    await env.starter.start(finished, source="sqs")
    await env.client.get_workflow_handle(finished.workflow_id).terminate("finished for the test")
    taken = put_manifest(env, "taken")
    put(env, SessionLayout(taken.session_id).manifest, b"{}")

    report = await reconcile(env, queue)
    again = await reconcile(env, queue)

    for each in (report, again):
        assert (each.manifests, each.started, each.already_finished, each.in_sessions) == (
            2,
            0,
            1,
            1,
        )
    assert await executions(env.client, finished.workflow_id) == 1
    assert not await exists(env.client, taken.workflow_id)


async def test_media_without_a_manifest_are_reported_once_past_the_grace_period(
    reconciler: tuple[IngestEnv, str],
) -> None:
    env, queue = reconciler
    put(env, "inbox/lonely/face.png")
    put(env, "inbox/lonely/voice.wav")
    put(env, "inbox/complete/face.png")
    put_manifest(env, "complete", {"kind": "i2v", "image": "face.png"})

    within_grace = await reconcile(env, queue, grace_s=3600)
    # Logging as a worker configures it: the workflow must not run a log handler (and so
    # import structlog's modules) inside its sandbox.
    with worker_logging(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        past_grace = await reconcile(env, queue, grace_s=0, record_as="reports_orphans")

    assert within_grace.orphans == 0
    assert past_grace.orphan_keys == ["inbox/lonely/face.png", "inbox/lonely/voice.wav"]
    assert [str(w.message) for w in caught if "workflow load" in str(w.message)] == []


async def test_the_schedule_runs_reconcile_at_once_and_applying_it_again_updates_it(
    reconciler: tuple[IngestEnv, str],
) -> None:
    env, queue = reconciler
    drop = put_manifest(env, "scheduled")
    settings = env.settings.model_copy(update={"temporal_task_queue": queue})
    handle = env.client.get_schedule_handle(RECONCILE_SCHEDULE_ID)
    try:
        assert await apply_reconcile_schedule(env.client, settings) is Applied.CREATED

        async def ran() -> bool:
            return bool((await handle.describe()).info.recent_actions)

        await eventually(ran)
        action = (await handle.describe()).info.recent_actions[0].action
        assert isinstance(action, ScheduleActionExecutionStartWorkflow)
        report = await env.client.get_workflow_handle(
            action.workflow_id, result_type=ReconcileReport
        ).result()
        assert report.started_sessions == [drop.session_id]

        longer = settings.model_copy(update={"reconcile_interval_s": 600})
        assert await apply_reconcile_schedule(env.client, longer) is Applied.UPDATED
        spec = (await handle.describe()).schedule.spec
        assert [interval.every for interval in spec.intervals] == [timedelta(seconds=600)]
    finally:
        await handle.delete()
