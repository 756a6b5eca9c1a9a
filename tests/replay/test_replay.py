"""Committed histories of ``SessionWorkflow`` must replay against today's code.

A change that alters the commands a recorded run issued fails here, so it gets
``workflow.patched`` before it can break sessions in flight. Refresh the histories with
``PIPELINE_RECORD_HISTORIES=1 pytest tests/integration/test_session_e2e.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from pipeline.workflows.session import SessionWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories" / "session").glob("*.json"))


def replayer() -> Replayer:
    return Replayer(workflows=[SessionWorkflow], data_converter=pydantic_data_converter)


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"session-{path.stem}", path.read_text())


def test_histories_cover_every_kind_and_a_failure() -> None:
    assert {path.stem for path in HISTORIES} >= {
        "i2v_one_extension",
        "infinitetalk_separated",
        "s2v_cropped_audio",
        "missing_image",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_session_replays_deterministically(path: Path) -> None:
    await replayer().replay_workflow(load(path))


async def test_a_history_whose_activities_differ_fails_replay() -> None:
    document = json.loads((HISTORIES[0]).read_text())
    for event in document["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled:
            scheduled["activityType"]["name"] = "renamed_stage"
            break
    history = WorkflowHistory.from_json("session-tampered", json.dumps(document))
    with pytest.raises(NondeterminismError):
        await replayer().replay_workflow(history)
