"""``ReprocessWorkflow``: rerun a selection of sessions as one batch of child workflows.

Each rerun is a ``SessionWorkflow`` child with id ``rerun-{batch}-{session}`` that writes a
new ``generations/{time}-{batch}/`` beside the session's earlier ones. At most
``concurrency`` run at once; ``chunk`` (100) children per run, then the batch continues as new
with what is left, so a batch of thousands keeps a short history. A worker restart replays
the batch: finished children are read from its history, never started again.

Reruns run at ``BATCH_PRIORITY`` with the batch id as fairness key, behind sessions started
by a drop (``FRESH_PRIORITY``) on every task queue, GPU included (activities inherit their
workflow's priority), and fairly across concurrent batches.
"""

from __future__ import annotations

import asyncio
import re

from temporalio import workflow
from temporalio.common import (
    Priority,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ChildWorkflowError

from pipeline.workflows.session import SessionWorkflow

with workflow.unsafe.imports_passed_through():
    from pipeline.domain.contracts import (
        BatchCounts,
        ReprocessRequest,
        Rerun,
        SessionRequest,
    )
    from pipeline.domain.drop import DropRef, rerun_workflow_id
    from pipeline.domain.layout import SessionLayout
    from pipeline.domain.markdown import code
    from pipeline.workflows import attributes
    from pipeline.workflows.priorities import BATCH_PRIORITY
    from pipeline.workflows.specs import SELECT_SESSIONS, execute

BATCH_WORKFLOW_PREFIX = "reprocess-"


@workflow.defn
class ReprocessWorkflow:
    def __init__(self) -> None:
        self._counts = BatchCounts()

    @workflow.query
    def counts(self) -> BatchCounts:
        """Selected, done, failed, skipped, running now, and the most that ran at once."""
        return self._counts

    @workflow.run
    async def run(self, request: ReprocessRequest) -> BatchCounts:
        if not request.batch_id:  # Started by a schedule: each run is its own batch.
            request = request.model_copy(update={"batch_id": batch_id_of(workflow.info())})
        self._counts = request.counts or BatchCounts()
        pending, bucket = request.pending, request.bucket
        if pending is None:
            selected = await execute(SELECT_SESSIONS, request.selection, summary="select")
            pending, bucket = selected.session_ids, selected.bucket
            self._update(selected=len(pending), skipped=len(selected.skipped))
        self._update()
        chunk, rest = pending[: request.chunk], pending[request.chunk :]
        slots = asyncio.Semaphore(request.concurrency)
        await asyncio.gather(*(self._rerun(request, bucket, s, slots) for s in chunk))
        if rest:
            workflow.continue_as_new(
                request.model_copy(
                    update={"pending": rest, "bucket": bucket, "counts": self._counts}
                )
            )
        return self._counts

    async def _rerun(
        self, request: ReprocessRequest, bucket: str, session_id: str, slots: asyncio.Semaphore
    ) -> None:
        async with slots:
            running = self._counts.running + 1
            self._update(running=running, peak_running=max(running, self._counts.peak_running))
            outcome = "done"
            try:
                await workflow.execute_child_workflow(
                    SessionWorkflow.run,
                    SessionRequest(
                        # A rerun's drop is the session's own manifest: the inbox was emptied.
                        drop=DropRef(
                            bucket=bucket,
                            manifest_key=SessionLayout(session_id).manifest,
                            etag="rerun",
                        ),
                        session_id=session_id,
                        gpu_task_queue=request.gpu_task_queue,
                        rerun=Rerun(batch_id=request.batch_id, overrides=request.overrides),
                    ),
                    id=rerun_workflow_id(request.batch_id, session_id),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    priority=Priority(
                        priority_key=BATCH_PRIORITY, fairness_key=request.batch_id[:64]
                    ),
                    search_attributes=TypedSearchAttributes(
                        [
                            SearchAttributePair(attributes.SESSION_ID, session_id),
                            SearchAttributePair(attributes.PIPELINE_ROLE, "rerun"),
                            SearchAttributePair(attributes.SESSION_STATUS, "running"),
                        ]
                    ),
                    static_summary=_summary(request, session_id),
                )
            except ChildWorkflowError as error:
                outcome = "failed"
                workflow.logger.warning("rerun of %s failed: %s", session_id, error.cause)
            counts = self._counts
            self._update(
                running=counts.running - 1,
                done=counts.done + (outcome == "done"),
                failed=counts.failed + (outcome == "failed"),
            )

    def _update(self, **fields: int) -> None:
        self._counts = self._counts.model_copy(update=fields)
        c = self._counts
        workflow.set_current_details(
            f"{c.finished}/{c.selected} reran · {c.done} done · {c.failed} failed · "
            f"{c.skipped} skipped · {c.running} running"
        )


def batch_id_of(info: workflow.Info) -> str:
    """``{schedule}-{yyyymmddHHMMSS}`` from a scheduled run's id ``reprocess-{schedule}-{time}``."""
    stem = info.workflow_id.removeprefix(BATCH_WORKFLOW_PREFIX)
    return re.sub(r"[^A-Za-z0-9]+", "", stem)[-40:] or info.run_id[:12]


def _summary(request: ReprocessRequest, session_id: str) -> str:
    """The rerun's summary in the UI (Markdown): the ``--set`` values as code spans."""
    changes = ", ".join(code(f"{k}={v}") for k, v in sorted(request.overrides.items()))
    return f"rerun of {session_id} · batch {request.batch_id}" + (
        f" · {changes}" if changes else ""
    )
