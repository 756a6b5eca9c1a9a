"""`pipeline status` says a session waits when no worker can take its scheduled task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import ActivityType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client

from pipeline.cli import session_view
from pipeline.config import load_settings
from pipeline.fleet.registry import LiveWorker, WorkerRecord

SEPARATION_QUEUE = "gpu.wan22-s2v-fp8.separation"


def scheduled(activity: str, queue: str) -> PendingActivityInfo:
    pending = PendingActivityInfo(activity_type=ActivityType(name=activity))
    pending.activity_options.task_queue.CopyFrom(TaskQueue(name=queue))
    return pending


def worker(identity: str, *, separates: bool) -> LiveWorker:
    """A live worker serving wan22-s2v-fp8, polling its separation queue if it ``separates``."""
    now = datetime.now(UTC)
    record = WorkerRecord(
        identity=identity,
        task_queue="gpu",
        worker_task_queue=f"gpu.worker.{identity}",
        polling=["gpu.wan22-s2v-fp8", *([SEPARATION_QUEUE] if separates else [])],
        comfyui_url="http://127.0.0.1:1",
        serving={"s2v": ["wan22-s2v-fp8"]},
        nodes=1,
        separation="demucs: htdemucs.safetensors" if separates else "unavailable: no model",
        held=["dG9rZW4="],  # busy: it runs another session's task (so it does not poll)
        started_at=now,
        updated_at=now,
    )
    return LiveWorker(record=record, status="busy", last_poll=None)


@pytest.mark.parametrize(
    ("workers", "waits"),
    [
        # Temporal still lists w1 as a poller after its model failed to load.
        ([worker("w1", separates=False)], True),
        # A worker rendering another session pauses polling; its record says it serves.
        ([worker("w1", separates=False), worker("w2", separates=True)], False),
    ],
)
async def test_a_worker_that_stopped_polling_separation_leaves_the_session_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[LiveWorker], waits: bool
) -> None:
    async def stale_pollers(_client: Client, _queue: str) -> dict[str, datetime]:
        return {w.record.identity: datetime.now(UTC) - timedelta(seconds=5) for w in workers}

    async def live(*_args: Any) -> list[LiveWorker]:
        return workers

    monkeypatch.setattr(session_view, "pollers", stale_pollers)
    monkeypatch.setattr(session_view, "live_workers", live, raising=False)
    settings = load_settings(PIPELINE_STATE_DIR=str(tmp_path))
    said = await session_view._nobody_polls(
        Client.__new__(Client),
        settings,
        scheduled("separate_vocals", SEPARATION_QUEUE),
        "wan22-s2v-fp8",
    )
    expected = (
        " · waiting for a worker that serves preset wan22-s2v-fp8 and can separate vocals: "
        f"none polls task queue '{SEPARATION_QUEUE}'"
    )
    assert said.startswith(expected) if waits else said == ""
