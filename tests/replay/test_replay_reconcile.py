"""Committed histories of ``ReconcileWorkflow`` must replay against today's code.

Refresh them with ``PIPELINE_RECORD_HISTORIES=1 pytest tests/integration/test_reconcile.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from pipeline.workflows.reconcile import ReconcileWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories" / "reconcile").glob("*.json"))


def replayer() -> Replayer:
    return Replayer(workflows=[ReconcileWorkflow], data_converter=pydantic_data_converter)


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"reconcile-{path.stem}", path.read_text())


def test_histories_cover_a_start_and_an_orphan_report() -> None:
    assert {path.stem for path in HISTORIES} >= {"starts_one_drop", "reports_orphans"}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_reconcile_replays_deterministically(path: Path) -> None:
    await replayer().replay_workflow(load(path))


async def test_a_history_scheduling_another_activity_fails_replay() -> None:
    document = json.loads(HISTORIES[0].read_text())
    for event in document["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled:
            scheduled["activityType"]["name"] = "renamed_pass"
            break
    history = WorkflowHistory.from_json("reconcile-tampered", json.dumps(document))
    with pytest.raises(NondeterminismError):
        await replayer().replay_workflow(history)
