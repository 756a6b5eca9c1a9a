"""``pipeline reprocess --retryable --dry-run`` against a real Temporal server and bucket: it
selects by the recorded retryability (the error class's ``retryable``), from visibility and
from ``error.json`` alike.

The failed sessions are stand-ins. In visibility: workflows started with a failed session's
search attributes on a queue no worker polls. In the bucket: ``error.json`` written by the
real ``record_failure`` activity, with no workflow at all (a session past retention).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import ActivityEnvironment

from activities.records import RecordActivities
from pipeline.cli.app import cli
from pipeline.domain.contracts import FailureInput, SessionRequest
from pipeline.domain.drop import DropRef
from pipeline.domain.errors import PipelineError, SeparationUnavailable, WorkerUnavailable
from pipeline.storage import ObjectStore
from pipeline.workflows import attributes
from pipeline.workflows.session import SessionWorkflow
from tests.conftest import S3Bucket, TemporalServer

pytestmark = pytest.mark.integration


async def failed_in_visibility(
    client: Client, drop: DropRef, error: type[PipelineError]
) -> WorkflowHandle[Any, Any]:
    """A session Temporal lists as failed with ``error``'s code (it never runs)."""
    return await client.start_workflow(
        SessionWorkflow.run,
        SessionRequest(drop=drop, session_id=drop.session_id),
        id=drop.workflow_id,
        task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(attributes.PIPELINE_ROLE, "session"),
                SearchAttributePair(attributes.SESSION_STATUS, "failed"),
                SearchAttributePair(attributes.ERROR_CODE, error.code),
                SearchAttributePair(attributes.DROP_KEY, drop.manifest_key),
            ]
        ),
    )


def failure(drop: DropRef, error: type[PipelineError]) -> FailureInput:
    """What the session workflow records for ``error``: its code and retryability."""
    return FailureInput(
        session_id=drop.session_id,
        workflow_id=drop.workflow_id,
        stage="separating_vocals",
        code=error.code,
        message="stand-in failure",
        retryable=error.retryable,
        drop_key=drop.manifest_key,
    )


async def test_a_retryable_dry_run_skips_sessions_whose_failure_is_not_retryable(
    temporal_client: Client, temporal_server: TemporalServer, s3_bucket: S3Bucket
) -> None:
    prefix = f"inbox/dry-{uuid.uuid4().hex[:8]}-"
    drops = {
        (where, error): DropRef.of(
            s3_bucket.bucket, f"{prefix}{where}-{error.code}/manifest.json", "e"
        )
        for where in ("visible", "recorded")
        for error in (SeparationUnavailable, WorkerUnavailable)
    }
    handles = [
        await failed_in_visibility(temporal_client, drop, error)
        for (where, error), drop in drops.items()
        if where == "visible"
    ]
    try:
        async with ObjectStore(s3_bucket.settings()) as store:
            records = RecordActivities(store)
            for (where, error), drop in drops.items():
                if where == "recorded":
                    await ActivityEnvironment().run(records.record_failure, failure(drop, error))
        query = f"{attributes.DROP_KEY.name} STARTS_WITH '{prefix}'"
        for _ in range(100):  # visibility lags the start a little
            if len([w async for w in temporal_client.list_workflows(query)]) == len(handles):
                break
            await asyncio.sleep(0.1)

        env = s3_bucket.env(TEMPORAL_ADDRESS=temporal_server.address)
        args = ["reprocess", "--key-prefix", prefix, "--retryable", "--dry-run", "--json"]
        ran = await asyncio.to_thread(
            CliRunner().invoke, cli, args, env=env, catch_exceptions=False
        )
    finally:
        for handle in handles:
            await handle.terminate("test over")

    assert ran.exit_code == 0, ran.output
    selected = json.loads(ran.stdout)
    assert sorted(selected["session_ids"]) == sorted(
        drop.session_id for (_, error), drop in drops.items() if error is WorkerUnavailable
    )
    assert selected["sources"] == ["visibility", "records"]
