"""The Temporal Schedule that runs ``ReconcileWorkflow`` every ``RECONCILE_INTERVAL_S``."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from pipeline.config import Settings
from pipeline.domain.contracts import ReconcileRequest
from pipeline.workflows import attributes
from pipeline.workflows.reconcile import ReconcileWorkflow

RECONCILE_SCHEDULE_ID = "pipeline-reconcile"
RECONCILE_WORKFLOW_ID = "reconcile"
"""The schedule appends each run's time, so runs are ``reconcile-{time}``."""


class Applied(StrEnum):
    CREATED = "created"
    UPDATED = "updated"


def reconcile_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run,
            ReconcileRequest(orphan_grace_s=settings.orphan_grace_s),
            id=RECONCILE_WORKFLOW_ID,
            task_queue=settings.temporal_task_queue,
            execution_timeout=timedelta(seconds=max(60, settings.reconcile_interval_s * 2)),
            # A system workflow: the default session list (PipelineRole = 'session') hides it.
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(attributes.PIPELINE_ROLE, "reconcile")]
            ),
            static_summary="reconcile inbox/: start sessions for drops whose event was lost",
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.reconcile_interval_s))]
        ),
        # A pass still running when the next is due makes the next one redundant.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def apply_reconcile_schedule(client: Client, settings: Settings) -> Applied:
    """Create the schedule (running a first pass at once) or bring it up to date.

    Idempotent. An update keeps the schedule's state, so a schedule an operator paused
    stays paused.
    """
    schedule = reconcile_schedule(settings)
    try:
        await client.create_schedule(RECONCILE_SCHEDULE_ID, schedule, trigger_immediately=True)
    except ScheduleAlreadyRunningError:

        def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(RECONCILE_SCHEDULE_ID).update(keep_state)
        return Applied.UPDATED
    return Applied.CREATED


async def trigger_reconcile(client: Client) -> bool:
    """Run a reconcile pass now (after the one in progress, if any); False without a schedule.

    For every start of an event source: events lost while it was away are found by listing.
    """
    handle: ScheduleHandle = client.get_schedule_handle(RECONCILE_SCHEDULE_ID)
    try:
        await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True
