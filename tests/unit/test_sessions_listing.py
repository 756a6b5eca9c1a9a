"""What `pipeline ls` lists: the status a closed session shows, and what `--status` asks."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus

from pipeline.cli.sessions import listed_status
from pipeline.workflows.attributes import sessions_query


@pytest.mark.parametrize(
    ("recorded", "execution", "shown"),
    [
        ("running", WorkflowExecutionStatus.RUNNING, "running"),
        ("running", WorkflowExecutionStatus.TERMINATED, "terminated"),
        ("running", WorkflowExecutionStatus.TIMED_OUT, "timed_out"),
        ("failed", WorkflowExecutionStatus.COMPLETED, "failed"),
        ("cancelled", WorkflowExecutionStatus.CANCELED, "cancelled"),
        (None, WorkflowExecutionStatus.COMPLETED, "succeeded"),
    ],
)
def test_a_listed_session_shows_its_recorded_status_unless_it_closed_without_one(
    recorded: str | None, execution: WorkflowExecutionStatus, shown: str
) -> None:
    assert listed_status(recorded, execution) == shown


def test_only_running_asks_temporal_whether_the_workflow_still_runs() -> None:
    assert "ExecutionStatus = 'Running'" in sessions_query(status="running")
    assert "ExecutionStatus" not in sessions_query(status="failed")
    assert "ExecutionStatus" not in sessions_query()
