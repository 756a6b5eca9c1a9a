"""Committed histories of one ``ReprocessWorkflow`` batch, across its continue-as-new, must
replay against today's code.

``first_chunk`` selects three sessions, reruns two as child workflows and continues as new;
``continued`` reruns the third from the request it was handed (no second selection) and
completes. Refresh them with
``PIPELINE_RECORD_HISTORIES=1 pytest tests/integration/test_reprocess_workflow.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from pipeline.workflows.reprocess import ReprocessWorkflow

HISTORIES = Path(__file__).parent / "histories" / "reprocess"
RUNS = ("first_chunk", "continued")


def replayer() -> Replayer:
    return Replayer(workflows=[ReprocessWorkflow], data_converter=pydantic_data_converter)


def document(run: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HISTORIES / f"{run}.json").read_text())
    return loaded


def history(run: str, events: dict[str, Any] | None = None) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"reprocess-{run}", json.dumps(events or document(run)))


def test_the_second_run_continues_the_first() -> None:
    first, continued = (document(run)["events"] for run in RUNS)
    assert first[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    started = continued[0]["workflowExecutionStartedEventAttributes"]
    original = first[0]["workflowExecutionStartedEventAttributes"]["originalExecutionRunId"]
    assert started["continuedExecutionRunId"] == original
    assert continued[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"


@pytest.mark.parametrize("run", RUNS)
async def test_each_run_of_the_batch_replays_deterministically(run: str) -> None:
    await replayer().replay_workflow(history(run))


@pytest.mark.parametrize("run", RUNS)
async def test_a_run_whose_child_workflow_differs_fails_replay(run: str) -> None:
    events = document(run)
    for event in events["events"]:
        initiated = event.get("startChildWorkflowExecutionInitiatedEventAttributes")
        if initiated:
            initiated["workflowType"]["name"] = "RenamedWorkflow"
            break
    with pytest.raises(NondeterminismError):
        await replayer().replay_workflow(history(run, events))
