"""What ``pipeline cancel`` and ``pipeline status`` act on: a session, its reruns, a batch.

An operator names one of:

- a session id (or its workflow id ``session-{id}``): the session, and any run of it still
  running: a rerender (``rerender-{id}-{yyyymmddHHMMSS}``, ``pipeline rerender``) or a
  reprocessing batch's rerun (``rerun-{batch}-{id}``). Each keeps the ``SessionId`` search
  attribute, so Temporal's visibility lists them;
- one rerender's or one batch rerun's workflow id: that run only;
- a batch's workflow id ``reprocess-{batch}`` (``pipeline reprocess`` prints it): the batch,
  whose running reruns end with it (its children).

Temporal's visibility lags a start by up to a second; the session's own workflow is asked
for by id as well, so a session that just started is never missed.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from pipeline.cli.session_view import status_name, workflow_id_for
from pipeline.domain.contracts import BatchCounts
from pipeline.domain.drop import WORKFLOW_ID_PREFIX, session_id_of_workflow
from pipeline.workflows import attributes
from pipeline.workflows.attributes import quote
from pipeline.workflows.reprocess import BATCH_WORKFLOW_PREFIX, ReprocessWorkflow


def is_batch(identifier: str) -> bool:
    """Whether ``identifier`` names a reprocessing batch (``reprocess-{batch}``)."""
    return identifier.startswith(BATCH_WORKFLOW_PREFIX)


async def run_status(client: Client, workflow_id: str) -> str | None:
    """The pipeline's word for the workflow's status; None when Temporal has no such one."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return status_name(description.status or WorkflowExecutionStatus.RUNNING)


async def running_runs(client: Client, session_id: str) -> list[str]:
    """Workflow ids of every running run of ``session_id``: the session's own workflow first,
    then its rerenders and batch reruns, oldest first."""
    # Its completion callbacks carry its id too, but they are not runs of it.
    query = (
        f"{attributes.SESSION_ID.name} = {quote(session_id)} AND ExecutionStatus = 'Running'"
        f" AND {attributes.PIPELINE_ROLE.name} IN ('session', 'rerun')"
    )
    found = [execution.id async for execution in client.list_workflows(query)]
    own = WORKFLOW_ID_PREFIX + session_id
    if own not in found and await run_status(client, own) == "running":
        found.append(own)  # Visibility has not listed it yet.
    return sorted(set(found), key=lambda workflow_id: (workflow_id != own, workflow_id))


@dataclass(frozen=True)
class Resolved:
    """What an identifier names: the session it belongs to and the runs to act on."""

    session_id: str
    workflow_id: str
    """The workflow ``status`` shows: a running rerun if there is one, else the named one."""
    running: tuple[str, ...]
    """The named run, or every running run of the named session (cancel's targets)."""


async def resolve(client: Client, identifier: str) -> Resolved:
    """The runs ``identifier`` (a session id or one of its workflow ids) names.

    A bare session id, or ``session-{id}``, names every running run of the session; a
    rerender's or rerun's workflow id names that run alone. A session id that only looks
    like a run's workflow id (a drop folder called ``rerun-…``) falls back to the session.
    """
    workflow_id = workflow_id_for(identifier)
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        status = await run_status(client, workflow_id)
        if status is not None:
            named: tuple[str, ...] = (workflow_id,) if status == "running" else ()
            return Resolved(session_id_of_workflow(workflow_id), workflow_id, named)
        workflow_id = WORKFLOW_ID_PREFIX + identifier
    session_id = session_id_of_workflow(workflow_id)
    running = tuple(await running_runs(client, session_id))
    shown = next((run for run in running if run != workflow_id), workflow_id)
    return Resolved(session_id, shown, running)


@dataclass(frozen=True)
class BatchStatus:
    """A reprocessing batch as ``status`` and ``cancel`` report it."""

    workflow_id: str
    status: str
    """``pending`` (Temporal knows no such batch), ``running``, ``succeeded``, ``cancelled``…"""
    counts: BatchCounts | None
    """Reruns selected, done, failed, skipped and running: the ``counts`` query while it runs
    (None when no worker answers), its result once it succeeded, else None."""

    def line(self) -> str:
        """``batch reprocess-b… running · 3/5 reran · 1 failed · 2 running``."""
        text = f"batch {self.workflow_id} {self.status}"
        c = self.counts
        if c is not None:
            text += (
                f" · {c.finished}/{c.selected} reran · {c.done} done · {c.failed} failed · "
                f"{c.skipped} skipped · {c.running} running"
            )
        return text


async def batch_status(client: Client, workflow_id: str) -> BatchStatus:
    """The batch's status and counts, across its continue-as-new runs."""
    handle = client.get_workflow_handle(workflow_id, result_type=BatchCounts)
    status = await run_status(client, workflow_id)
    counts: BatchCounts | None = None
    if status == "running":
        try:
            counts = await handle.query(ReprocessWorkflow.counts)
        except RPCError as exc:
            if exc.status is RPCStatusCode.UNAVAILABLE:
                raise
    elif status == "succeeded":
        counts = await handle.result()
    return BatchStatus(workflow_id, status or "pending", counts)
