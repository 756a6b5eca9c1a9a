"""Nothing a session held outlives it: GPU session slots, sticky reservations, scratch space.

The case ``cancelled-session-holds-gpu-slot``: a GPU worker takes on two sessions at once
and a session keeps its slot between two segments for the sticky window; two sessions
that end between segments must not idle the only GPU worker for that window. The stack is
the real embedded one (Temporal dev server, SeaweedFS, comfy-sim, the workers as
``pipeline`` processes), with a sticky window longer than this whole module takes, so a
slot that is only freed when its window runs out fails the tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from pipeline.config import Settings
from pipeline.domain.drop import DropRef
from pipeline.stack.state import read_process_table
from pipeline.temporal_client import connect
from pipeline.workflows.session import SessionWorkflow
from tests.helpers import eventually, png, put_drop
from tests.integration.stack_support import embedded_stack, finished, pipeline_cli

pytestmark = pytest.mark.integration

STICKY_S = 420
"""Longer than this module runs: a slot freed only when the window ends fails the tests."""
PROMPT_S = 60
"""A one-segment session takes about 8 s on comfy-sim; well under the sticky window."""
SIZE = {"width": 256, "height": 144}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    async with embedded_stack(
        tmp_path_factory.mktemp("slots-stack"),
        "slots-sessions",
        STICKY_SCHEDULE_TO_START_S=str(STICKY_S),
    ) as settings:
        yield settings


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(stack: Settings) -> Client:
    return await connect(stack)


def pid_of(settings: Settings, process: str) -> int:
    table = read_process_table(settings.state_dir)
    assert table is not None
    return table.processes[process].pid


def long_drop(settings: Settings, name: str) -> DropRef:
    """An i2v session of 13 segments: it holds a slot between any two of them."""
    manifest = {"kind": "i2v", "image": "a.png", "extensions": 12, **SIZE}
    return put_drop(settings, f"{name}-{time.monotonic_ns()}", manifest, {"a.png": png()})


def short_drop(settings: Settings, name: str) -> DropRef:
    manifest = {"kind": "i2v", "image": "a.png", **SIZE}
    return put_drop(settings, f"{name}-{time.monotonic_ns()}", manifest, {"a.png": png()})


async def segments_done(handle: WorkflowHandle[Any, Any], at_least: int) -> bool:
    try:
        return (await handle.query(SessionWorkflow.progress)).segments_done >= at_least
    except Exception:  # not started yet, or its worker busy: ask again
        return False


async def no_segment_pending(handle: WorkflowHandle[Any, Any]) -> bool:
    pending = (await handle.describe()).raw_description.pending_activities
    return all(p.activity_type.name != "generate_segment" for p in pending)


async def end_between_segments(
    settings: Settings,
    client: Client,
    drop: DropRef,
    end: Callable[[WorkflowHandle[Any, Any]], Awaitable[object]],
) -> WorkflowExecutionStatus:
    """What the case's script does: the CPU worker (it runs the workflows) is paused once
    the session has two segments, so the GPU worker finishes the segment it renders and
    nothing schedules the next; then ``end`` (cancel, terminate) and the CPU worker goes on."""
    handle = client.get_workflow_handle(drop.workflow_id)
    await eventually(lambda: segments_done(handle, 2), 120, every_s=0.2)
    cpu = pid_of(settings, "worker-cpu")
    os.kill(cpu, signal.SIGSTOP)
    try:
        await eventually(lambda: no_segment_pending(handle), 60, every_s=0.2)
        await end(handle)
    finally:
        os.kill(cpu, signal.SIGCONT)
    return await finished(client, drop.workflow_id)


async def succeeds_promptly(settings: Settings, client: Client, name: str) -> float:
    """Seconds a new one-segment session took to succeed; fails after ``PROMPT_S``."""
    drop = short_drop(settings, name)
    started = time.monotonic()

    def said() -> str:
        view = pipeline_cli(settings, "status", drop.session_id)
        return view.stdout + view.stderr

    async def done() -> bool:
        try:
            status = (await client.get_workflow_handle(drop.workflow_id).describe()).status
        except Exception:
            return False
        return status is WorkflowExecutionStatus.COMPLETED

    await eventually(done, PROMPT_S, every_s=0.2, explain=said)
    return time.monotonic() - started


async def test_sessions_cancelled_between_segments_free_their_slots_at_once(
    stack: Settings, client: Client
) -> None:
    for name in ("cancel-a", "cancel-b"):
        ended = await end_between_segments(
            stack, client, long_drop(stack, name), lambda h: h.cancel()
        )
        assert ended is WorkflowExecutionStatus.CANCELED
    # A preset-queue poll sent before both slots were taken may let one session in anyway.
    took = [await succeeds_promptly(stack, client, name) for name in ("first", "second")]
    print(f"\nnew sessions after two cancelled between segments: {took[0]:.1f} s, {took[1]:.1f} s")


async def test_terminated_sessions_free_their_slots_and_scratch(
    stack: Settings, client: Client
) -> None:
    terminated = []
    for name in ("terminate-a", "terminate-b"):
        drop = long_drop(stack, name)
        terminated.append(drop)
        ended = await end_between_segments(
            stack, client, drop, lambda h: h.terminate("between segments")
        )
        assert ended is WorkflowExecutionStatus.TERMINATED
    took = [await succeeds_promptly(stack, client, name) for name in ("third", "fourth")]
    print(f"\nnew sessions after two terminated between segments: {took[0]:.1f} s, {took[1]:.1f} s")

    def scratch_left() -> list[Path]:
        work = stack.work_dir
        return [p for p in work.iterdir() if p.name.startswith(("activity-", "separation-"))]

    await eventually(lambda: not scratch_left(), 30, explain=lambda: str(scratch_left()))

    # `ls` says terminated, not the "running" they recorded last, and `--status running` skips them.
    listed = json.loads(pipeline_cli(stack, "ls", "--json").stdout)["sessions"]
    running = json.loads(pipeline_cli(stack, "ls", "--status", "running", "--json").stdout)
    ids = {drop.session_id for drop in terminated}
    assert {row["status"] for row in listed if row["session_id"] in ids} == {"terminated"}, listed
    assert not ids & {row["session_id"] for row in running["sessions"]}


async def test_status_and_doctor_name_a_stopped_gpu_worker(stack: Settings, client: Client) -> None:
    gpu = pid_of(stack, "worker-gpu")
    os.kill(gpu, signal.SIGSTOP)
    stages: list[str] = []
    try:
        # A poll the worker sent before it stopped may still hand it the first task (it
        # then shows as a silent started attempt); the other waits on the preset's queue.
        drops = [short_drop(stack, name) for name in ("frozen-first", "frozen-second")]

        async def told() -> bool:
            for drop in drops:
                view = await asyncio.to_thread(
                    pipeline_cli, stack, "status", drop.session_id, "--json"
                )
                if view.returncode == 0:
                    stages.append(json.loads(view.stdout)["stage"] or "")
            return any("is stopped" in stage for stage in stages)

        await eventually(told, 60, every_s=1.0, explain=lambda: "\n".join(stages[-2:]))
        doctor = await asyncio.to_thread(pipeline_cli, stack, "doctor")
    finally:
        os.kill(gpu, signal.SIGCONT)

    [stage] = [stage for stage in stages if "is stopped" in stage][:1]
    assert f"(pid {gpu}) is stopped (SIGSTOP or a debugger)" in stage, stage
    assert f"'kill -CONT {gpu}' resumes it" in stage
    assert "start 'pipeline worker gpu'" not in stage
    assert doctor.returncode == 1, doctor.stdout
    [line] = [line for line in doctor.stdout.splitlines() if "gpu workers" in line]
    assert line.startswith("FAIL"), doctor.stdout
    assert f"(pid {gpu}) is stopped" in line
    for drop in drops:  # resumed: it renders them
        assert await finished(client, drop.workflow_id) is WorkflowExecutionStatus.COMPLETED
