"""A session's completion callback as ``pipeline status`` shows it: pending, retrying,
delivered, no URL, given up (or stopped by hand), with the try and the last error.

Read from the session's ``CallbackWorkflow`` (``callback-{session}-{run id}``,
``pipeline.workflows.callback``): while it runs, from its pending ``notify_completion``
activity (Temporal's attempt, last failure and next try); once closed, from its result
(``NotifyOutput``) or its failure (``callback_rejected``, detail ``attempts`` and
``last_error``). Sessions started before the callback had its own workflow send it from
their own ``notify_completion`` activity, read the same way (``pending_callback``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from pipeline.domain.contracts import NotifyOutput
from pipeline.domain.drop import callback_workflow_id
from pipeline.workflows.specs import NOTIFY_POLICY

MAX_ATTEMPTS = NOTIFY_POLICY.retry.maximum_attempts

CallbackState = Literal["pending", "retrying", "delivered", "no_url", "given_up", "stopped"]


class CallbackStatus(BaseModel):
    workflow_id: str
    """The workflow that sends it: ``callback-{session}-{run id}`` (a session started before
    callbacks had their own workflow: the session's own)."""
    state: CallbackState
    """``pending`` (first try not done yet), ``retrying`` (a try failed, more to come),
    ``delivered`` (a 2xx answer), ``no_url`` (neither manifest nor ``CALLBACK_URL`` names
    one), ``given_up`` (every try failed), ``stopped`` (its workflow was terminated or
    cancelled by hand)."""
    attempt: int | None = None
    """The try under way or next (pending, retrying), that delivered, or the last made."""
    max_attempts: int = MAX_ATTEMPTS
    last_error: str | None = None
    """The last failed try's error (the URL without its query)."""
    next_attempt_at: datetime | None = None
    """When the next try starts (retrying), UTC."""
    status_code: int | None = None
    """The receiver's answer to the delivering try."""

    def line(self) -> str:
        """``retrying: try 3 of 10 at 12:01:05 UTC; last error: ... answered 500``."""
        tries = f"try {self.attempt} of {self.max_attempts}" if self.attempt else ""
        if self.state == "delivered":
            text = f"delivered ({self.status_code})" + (f" on {tries}" if tries else "")
        elif self.state == "no_url":
            text = "none sent: neither the manifest's callback_url nor CALLBACK_URL is set"
        elif self.state == "given_up":
            made = f" after {self.attempt} tries" if self.attempt else ""
            text = f"given up{made}"
        else:
            when = f" at {self.next_attempt_at:%H:%M:%S} UTC" if self.next_attempt_at else ""
            text = f"{self.state}" + (f": {tries}{when}" if tries else "")
        return text + (f"; last error: {self.last_error}" if self.last_error else "")


async def callback_status(client: Client, session_id: str, run_id: str) -> CallbackStatus | None:
    """The callback of the session workflow run ``run_id``; None when it has none (a session
    started before callbacks had their own workflow, or that ended before sending one)."""
    workflow_id = callback_workflow_id(session_id, run_id)
    handle = client.get_workflow_handle(workflow_id, result_type=NotifyOutput)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    status = description.status
    if status is WorkflowExecutionStatus.RUNNING:
        pending = description.raw_description.pending_activities
        if pending:
            return pending_callback(workflow_id, pending[0])
        return CallbackStatus(workflow_id=workflow_id, state="pending", attempt=1)
    if status is WorkflowExecutionStatus.COMPLETED:
        sent = await handle.result()
        return CallbackStatus(
            workflow_id=workflow_id,
            state="delivered" if sent.delivered else "no_url",
            attempt=sent.attempts,
            status_code=sent.status_code,
        )
    if status is WorkflowExecutionStatus.FAILED:
        try:
            await handle.result()
        except WorkflowFailureError as failure:
            return given_up(workflow_id, failure.cause)
    return CallbackStatus(
        workflow_id=workflow_id,
        state="stopped",
        last_error=f"its workflow was {status.name.lower() if status else 'closed'}",
    )


def given_up(workflow_id: str, cause: BaseException | None) -> CallbackStatus:
    """A failed ``CallbackWorkflow``'s ``callback_rejected``: the tries made, the last error."""
    detail: dict[str, Any] = {}
    if isinstance(cause, ApplicationError) and cause.details:
        first = cause.details[0]
        detail = first if isinstance(first, dict) else {}
    attempts = detail.get("attempts")
    last = detail.get("last_error") or (str(cause) if cause else None)
    return CallbackStatus(
        workflow_id=workflow_id,
        state="given_up",
        attempt=attempts if isinstance(attempts, int) else None,
        last_error=str(last) if last else None,
    )


def pending_callback(workflow_id: str, pending: PendingActivityInfo) -> CallbackStatus:
    """A ``notify_completion`` activity still under way: its try, last error and next try."""
    failed = pending.last_failure.message if pending.HasField("last_failure") else None
    next_at = None
    if (
        pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        and pending.next_attempt_schedule_time.seconds
    ):
        next_at = pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
    return CallbackStatus(
        workflow_id=workflow_id,
        state="retrying" if failed else "pending",
        attempt=max(pending.attempt, 1),
        last_error=failed or None,
        next_attempt_at=next_at,
    )
