"""``CallbackWorkflow``: a session's completion callback, delivered off the session's path.

A session writes its record (``result.json`` or ``error.json``), which makes its outcome,
URLs and exit codes final, then starts this workflow as a child with
``ParentClosePolicy.ABANDON`` (``start_callback``) and ends: it never waits for the
receiver. The child, id ``callback-{session id}-{run id}`` (``callback_workflow_id``),
``PipelineRole = 'callback'``, runs ``notify_completion`` under ``NOTIFY_POLICY`` (ten
tries over about 25 minutes). It completes with the ``NotifyOutput`` of the try that
delivered (or found no URL), or fails ``callback_rejected`` with the last try's error once
the tries are spent: the Temporal UI lists it Running while it retries (the pending
activity shows the attempt and the last failure), then Completed or Failed, and
``pipeline status`` reads the same (``pipeline.cli.callback_view``).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from pipeline.domain.contracts import NotifyInput, NotifyOutput
    from pipeline.domain.drop import callback_workflow_id
    from pipeline.domain.errors import CallbackRejected
    from pipeline.workflows import attributes
    from pipeline.workflows.specs import NOTIFY_COMPLETION, NOTIFY_POLICY, execute


@workflow.defn
class CallbackWorkflow:
    @workflow.run
    async def run(self, request: NotifyInput) -> NotifyOutput:
        """Deliver the callback; ``ApplicationError`` ``callback_rejected`` (detail:
        ``attempts``, ``last_error``) once ``NOTIFY_POLICY``'s tries are spent."""
        try:
            return await execute(
                NOTIFY_COMPLETION, request, summary=f"callback: session.{request.status}"
            )
        except ActivityError as failure:
            cause = failure.cause
            last, attempts = str(cause or failure), None
            if isinstance(cause, ApplicationError):
                last = cause.message
                detail = cause.details[0] if cause.details else None
                attempts = detail.get("attempt") if isinstance(detail, dict) else None
            tries = f" after {attempts} tr{'y' if attempts == 1 else 'ies'}" if attempts else ""
            raise ApplicationError(
                f"callback given up{tries}: {last}",
                {"attempts": attempts, "last_error": last},
                type=CallbackRejected.code,
                non_retryable=True,
            ) from None


async def start_callback(request: NotifyInput) -> None:
    """From a session workflow: start its ``CallbackWorkflow`` and return once it has
    started (it outlives the session: ``ABANDON``). A callback already started for this
    run (it cannot be, ids hold the run id) is only logged."""
    info = workflow.info()
    try:
        await workflow.start_child_workflow(
            CallbackWorkflow.run,
            request,
            id=callback_workflow_id(request.session_id, info.run_id),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(attributes.SESSION_ID, request.session_id),
                    SearchAttributePair(attributes.PIPELINE_ROLE, "callback"),
                ]
            ),
            static_summary=(
                f"callback: session.{request.status} · {request.session_id} "
                f"· up to {NOTIFY_POLICY.retry.maximum_attempts} tries"
            ),
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.warning("completion callback of run %s already started", info.run_id)
