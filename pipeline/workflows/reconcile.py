"""``ReconcileWorkflow``: one pass over ``inbox/``, run by a Temporal Schedule.

Events can be lost (a queue's retention, a rule added late, a webhook sender that gave
up); reconcile makes that a delay, never a lost session.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pipeline.ingest.reconcile import RECONCILE_ACTIVITY, ReconcileReport, ReconcileRequest

RECONCILE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
)
"""A pass that keeps failing waits for the schedule's next one rather than piling up."""


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileReport:
        report: ReconcileReport = await workflow.execute_activity(
            RECONCILE_ACTIVITY,
            request,
            result_type=ReconcileReport,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RECONCILE_RETRY,
        )
        if report.orphans:
            workflow.logger.warning(
                "%d media in inbox/ have no manifest after %.0f s: %s",
                report.orphans,
                request.orphan_grace_s,
                ", ".join(report.orphan_keys),
            )
        return report
