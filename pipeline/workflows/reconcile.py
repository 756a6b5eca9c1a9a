"""``ReconcileWorkflow``: one pass over ``inbox/``, run by a Temporal Schedule.

Events can be lost (a queue's retention, a rule added late, a webhook sender that gave
up); reconcile makes that a delay, never a lost session.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pipeline.domain.contracts import ReconcileReport, ReconcileRequest
    from pipeline.workflows.specs import RECONCILE_INBOX, execute


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileReport:
        # Orphans are logged by the activity (``orphan_media``, one line per key) and listed
        # in the report: logging from here would run the log handlers inside the sandbox.
        return await execute(RECONCILE_INBOX, request)
