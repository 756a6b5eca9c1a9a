"""``SessionWorkflow``'s own logic on the real Temporal dev server, with stub activities.

The stubs register under the real activity names (``pipeline.workflows.specs``), the way
temporalio's samples test workflows: no object store, ffmpeg, ComfyUI or torch, so each
case takes a second or two. They answer with keys under the session's layout and a real
frame plan, record every call (name, task queue, attempt), and raise the pipeline's own
errors through the real activity edge, so codes and retryability arrive as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError
from temporalio.worker import Replayer, Worker

from pipeline.cli.callback_view import callback_status
from pipeline.cli.session_view import session_status
from pipeline.config import load_settings
from pipeline.domain.contracts import (
    NotifyInput,
    NotifyOutput,
    SegmentProgress,
    SessionRequest,
    SessionResult,
    SignalName,
)
from pipeline.domain.drop import DropRef, callback_workflow_id
from pipeline.domain.errors import (
    CallbackRejected,
    MediaError,
    MissingMediaError,
    ObjectChanged,
    PipelineError,
    SeparationElsewhere,
    StorageError,
    WorkerBusy,
)
from pipeline.domain.frames.plan import FramePlan, plan_for
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Manifest
from pipeline.domain.queues import preset_queue, separation_queue, worker_queue
from pipeline.stack.process import free_port
from pipeline.temporal_client import connect, metrics_runtime
from pipeline.worker.run import CPU_WORKFLOWS
from pipeline.workflows import attributes, specs
from pipeline.workflows.callback import CallbackWorkflow
from pipeline.workflows.session import RESEED_STRIDE, SessionWorkflow
from tests.conftest import S3Bucket, TemporalServer
from tests.helpers import eventually, new_worker
from tests.integration.session_stubs import AUDIO_S, Stubs, manifest
from workflows_comfy import presets
from workflows_comfy.presets import preset_for

pytestmark = pytest.mark.integration


@dataclass
class Session:
    handle: WorkflowHandle[SessionWorkflow, SessionResult]
    stubs: Stubs
    gpu_queue: str
    """The session's preset's queue."""
    separation_queue: str
    """The preset's separation queue."""
    own_queue: str
    """The queue of the one stub GPU worker (``Stubs.worker_task_queue`` names it or not)."""


RENDERED = ["generate_segment", "check_segment", "make_segment_preview"]
"""One segment: rendered, checked by the quality gate, previewed."""
FINISHED = ["stitch", "make_run_previews", "sign_outputs", "publish_result", "notify_completion"]


def segments_then_stitch(plan: FramePlan) -> list[str]:
    """Each segment renders from the last frames of the one before it."""
    middle = [*RENDERED, "extract_last_frames"] * (len(plan.segments) - 1)
    return [*middle, *RENDERED, *FINISHED]


@asynccontextmanager
async def running(
    client: Client, stubs: Stubs, *, sticky_s: float = 600.0, **request: Any
) -> AsyncIterator[Session]:
    """A CPU worker, a GPU worker polling this session's preset's queue, its separation
    queue and its own queue, all on queues of this test's own, and the session started."""
    run_id = uuid.uuid4().hex[:12]
    cpu_queue, gpu_prefix = f"cpu-{run_id}", f"gpu-{run_id}"
    preset = preset_for(stubs.manifest).name
    gpu_queue = preset_queue(gpu_prefix, preset)
    vocals_queue = separation_queue(gpu_prefix, preset)
    own_queue = worker_queue(gpu_prefix, "stub")
    cpu = Worker(
        client,
        task_queue=cpu_queue,
        workflows=CPU_WORKFLOWS,
        activities=stubs.for_queue(specs.QueueKind.CPU),
    )
    gpu, vocals, own = (
        Worker(
            client,
            task_queue=queue,
            activities=stubs.for_queue(specs.QueueKind.GPU),
            # Heartbeats reach the server at once, so a cancellation reaches the stub at once.
            max_heartbeat_throttle_interval=timedelta(milliseconds=50),
            default_heartbeat_throttle_interval=timedelta(milliseconds=50),
        )
        for queue in (gpu_queue, vocals_queue, own_queue)
    )
    async with cpu, gpu, vocals, own:
        drop = DropRef.of("bucket", f"inbox/logic-{run_id}/manifest.json", run_id)
        handle = await client.start_workflow(
            SessionWorkflow.run,
            SessionRequest(
                drop=drop,
                session_id=drop.session_id,
                gpu_task_queue=gpu_prefix,
                sticky_schedule_to_start_s=sticky_s,
                **request,
            ),
            id=drop.workflow_id,
            task_queue=cpu_queue,
            execution_timeout=timedelta(minutes=1),
        )
        yield Session(handle, stubs, gpu_queue, vocals_queue, own_queue)
        await settled(client, handle, drop.session_id)


async def settled(
    client: Client, handle: WorkflowHandle[SessionWorkflow, SessionResult], session_id: str
) -> None:
    """Until the session has ended and then its callback workflow (which outlives it), so
    the stubs have seen every call; at most 30 s each."""
    with contextlib.suppress(Exception):  # Failed, cancelled or timed out: ended all the same.
        await asyncio.wait_for(handle.result(), 30)
    run_id = (await handle.describe()).run_id
    callback = client.get_workflow_handle(callback_workflow_id(session_id, run_id))
    with contextlib.suppress(WorkflowFailureError, RPCError):  # given up, or none started
        await asyncio.wait_for(callback.result(), 30)


async def test_an_i2v_session_runs_each_stage_in_order_on_its_queue(
    temporal_client: Client,
) -> None:
    drop = manifest(kind="i2v", image="face.png", extensions=1)
    async with running(temporal_client, Stubs(drop)) as session:
        result = await session.handle.result()
        progress = await session.handle.query(SessionWorkflow.progress)
    plan = plan_for(drop, None)
    assert len(plan.segments) == 2
    stubs = session.stubs
    first = ["take_drop", "prepare_image", "plan_frames"]
    assert stubs.names() == [*first, *segments_then_stitch(plan)]
    assert all(call.attempt == 1 for call in stubs.calls)
    gpu = {call.name for call in stubs.calls if call.task_queue == session.gpu_queue}
    assert gpu == {"generate_segment"}
    layout = SessionLayout(result.session_id)
    assert result.result_key == layout.result
    assert result.combined_key.startswith(layout.root)
    assert (result.frames, result.duration_s) == (plan.final_frames, plan.duration_s)
    assert (progress.stage, progress.segments_done, progress.segments_total) == ("succeeded", 2, 2)


async def test_a_segment_failing_its_check_alone_is_rendered_again_with_a_new_seed(
    temporal_client: Client,
) -> None:
    drop = manifest(kind="i2v", image="face.png", extensions=2)
    async with running(temporal_client, Stubs(drop, black_renders={1: 1})) as session:
        await session.handle.result()
        progress = await session.handle.query(SessionWorkflow.progress)
    stubs = session.stubs

    rendered = [(r.segment.index, r.seed) for r in stubs.segments]
    base = rendered[0][1]
    assert rendered == [(0, base), (1, base + 1), (1, base + 1 + RESEED_STRIDE), (2, base + 2)]
    assert [(c.index, c.attempt) for c in stubs.checks] == [(0, 0), (1, 0), (1, 1), (2, 0)]
    # Segment 2 is checked against the kept segment 1 and starts from its last frame.
    assert stubs.checks[-1].previous_key == stubs.checks[2].segment_key
    assert progress.rerenders == 1
    assert len(progress.previews) == 3


@pytest.mark.parametrize(("policy", "renders"), [("fail", 1), ("rerender", 3)])
async def test_a_segment_that_keeps_failing_ends_the_session_with_quality_failed(
    temporal_client: Client, policy: str, renders: int
) -> None:
    drop = manifest(kind="i2v", image="face.png", extensions=1, qc=policy)
    async with running(temporal_client, Stubs(drop, black_renders={0: 9})) as session:
        with pytest.raises(WorkflowFailureError) as failed:
            await session.handle.result()
    stubs = session.stubs

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("quality_failed", True)
    assert cause.message.startswith("failed the quality gate")
    assert cause.message.endswith(": all black")
    assert [r.segment.index for r in stubs.segments] == [0] * renders
    [recorded] = stubs.recorded
    assert (recorded.code, recorded.retryable) == ("quality_failed", False)
    assert recorded.detail["segment"] == 1
    assert recorded.detail["measures"] == ["black"]
    # Every render the failed session made reaches error.json, so its GPU time is counted.
    assert [(r.index, r.attempt) for r in recorded.renders] == [(0, a) for a in range(renders)]
    assert "generate_segment" in recorded.timings_s


async def test_with_qc_off_no_segment_is_checked(temporal_client: Client) -> None:
    drop = manifest(kind="i2v", image="face.png", extensions=1, qc="off")
    async with running(temporal_client, Stubs(drop, black_renders={0: 9})) as session:
        await session.handle.result()

    assert session.stubs.checks == []
    assert len(session.stubs.segments) == 2


async def test_a_separated_audio_session_takes_vocals_on_the_gpu_then_pads_them(
    temporal_client: Client,
) -> None:
    drop = manifest(kind="infinitetalk", image="face.png", audio="voice.wav")
    async with running(temporal_client, Stubs(drop)) as session:
        await session.handle.result()
    stubs = session.stubs
    assert stubs.names() == [
        "take_drop",
        "prepare_image",
        "prepare_audio",
        "plan_frames",
        "separate_vocals",
        "pad_audio",
        *segments_then_stitch(plan_for(drop, AUDIO_S)),
    ]
    gpu = {(call.name, call.task_queue) for call in stubs.calls}
    assert ("separate_vocals", session.separation_queue) in gpu
    assert ("generate_segment", session.gpu_queue) in gpu


async def test_infinitetalk_windows_each_continue_the_previous_windows_video(
    temporal_client: Client,
) -> None:
    drop = manifest(kind="infinitetalk", image="face.png", audio="voice.wav")
    async with running(temporal_client, Stubs(drop, audio_s=6.0)) as session:
        await session.handle.result()
    stubs = session.stubs
    plan = plan_for(drop, 6.0)
    assert len(plan.segments) == 2
    # No last-frame extraction: the next window is given the previous window's video.
    assert stubs.names()[-11:] == [*RENDERED, *RENDERED, *FINISHED]
    first, second = stubs.segments
    assert first.previous_key is None
    assert second.previous_key == SessionLayout(first.session_id).segment(first.run, 0)
    assert first.conditioning_key == second.conditioning_key  # the portrait, every window


async def test_a_storage_failure_is_retried_and_the_session_succeeds(
    temporal_client: Client,
) -> None:
    failures: dict[str, list[PipelineError]] = {
        "prepare_image": [StorageError("the object store answered 503")]
    }
    stubs = Stubs(manifest(kind="i2v", image="face.png"), failures)
    async with running(temporal_client, stubs) as session:
        await session.handle.result()
    attempts = [call.attempt for call in stubs.calls if call.name == "prepare_image"]
    assert attempts == [1, 2]
    assert stubs.recorded == []
    assert stubs.names()[-2:] == ["publish_result", "notify_completion"]


async def test_bad_media_is_recorded_once_and_fails_the_session_without_retries(
    temporal_client: Client,
) -> None:
    message = "face.png is not an image ffmpeg can decode"
    failures: dict[str, list[PipelineError]] = {
        "prepare_image": [MediaError(message, detail={"key": "face.png"})]
    }
    stubs = Stubs(manifest(kind="i2v", image="face.png"), failures)
    async with running(temporal_client, stubs) as session:
        with pytest.raises(WorkflowFailureError) as failed:
            await session.handle.result()
        progress = await session.handle.query(SessionWorkflow.progress)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message, cause.non_retryable) == ("bad_media", message, True)
    assert [c.attempt for c in stubs.calls if c.name == "prepare_image"] == [1]
    assert stubs.names() == ["take_drop", "prepare_image", "record_failure", "notify_completion"]
    [recorded] = stubs.recorded
    assert (recorded.stage, recorded.code, recorded.message) == (
        "preparing_image",
        "bad_media",
        message,
    )
    assert recorded.retryable is False
    assert recorded.detail == {"key": "face.png"}
    assert recorded.workflow_id == session.handle.id
    assert (progress.stage, progress.error) == ("failed", message)


async def test_cancelling_a_session_cancels_its_running_segment(
    temporal_client: Client,
) -> None:
    stubs = Stubs(manifest(kind="i2v", image="face.png"), hold_segments=True)
    async with running(temporal_client, stubs) as session:
        await asyncio.wait_for(stubs.segment_started.wait(), 30)
        await session.handle.cancel()
        with pytest.raises(WorkflowFailureError) as failed:
            await session.handle.result()
        await asyncio.wait_for(stubs.segment_cancelled.wait(), 30)
        status = (await session.handle.describe()).status
    assert isinstance(failed.value.cause, CancelledError)
    assert status is WorkflowExecutionStatus.CANCELED
    assert stubs.recorded == []


def still_uploading() -> MissingMediaError:
    return MissingMediaError("speech.wav is not there yet", detail={"missing": ["speech.wav"]})


async def test_media_still_uploading_are_waited_for_and_the_session_runs(
    temporal_client: Client,
) -> None:
    drop = manifest(kind="s2v", image="face.png", audio="speech.wav", separate_vocals=False)
    stubs = Stubs(drop, {"take_drop": [still_uploading()]})
    async with running(temporal_client, stubs) as session:
        for _ in range(100):
            progress = await session.handle.query(SessionWorkflow.progress)
            if progress.waiting_for:
                break
            await asyncio.sleep(0.05)
        await session.handle.result()
    assert (progress.stage, progress.waiting_for) == ("waiting_for_media", ["speech.wav"])
    assert [take.media_may_arrive for take in stubs.takes] == [True, True]
    assert stubs.recorded == []
    assert stubs.names()[-2:] == ["publish_result", "notify_completion"]


async def test_media_missing_after_the_grace_fail_once_as_missing_media(
    temporal_client: Client,
) -> None:
    drop = manifest(kind="s2v", image="face.png", audio="speech.wav", separate_vocals=False)
    stubs = Stubs(drop, {"take_drop": [still_uploading(), still_uploading()]})
    async with running(temporal_client, stubs, media_grace_s=8) as session:
        with pytest.raises(WorkflowFailureError) as failed:
            await session.handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "missing_media"
    # The last take keeps what is there with the session (media_may_arrive off).
    assert [take.media_may_arrive for take in stubs.takes] == [True, False]
    [recorded] = stubs.recorded
    assert (recorded.stage, recorded.code) == ("taking_drop", "missing_media")


async def test_names_a_session_waits_for_are_code_in_the_uis_live_details(
    temporal_client: Client,
) -> None:
    """The folder's names come from whoever uploaded: as Temporal stores the current
    details, each is a code span, and the Markdown around them draws no link."""
    hostile = "[Approve](http://127.0.0.1:28999/phish).wav"
    drop = manifest(kind="s2v", image="face.png", audio="speech.wav", separate_vocals=False)
    waiting = MissingMediaError(
        "speech.wav is not there yet",
        detail={"missing": ["speech.wav"], "folder": ["face.png", hostile]},
    )
    stubs = Stubs(drop, {"take_drop": [waiting]})
    async with running(temporal_client, stubs) as session:
        shown = ""
        for _ in range(100):
            shown = await current_details(session.handle)
            if shown.startswith("waiting for"):
                break
            await asyncio.sleep(0.05)
        await session.handle.result()
    assert shown == (f"waiting for `speech.wav`; the drop folder holds `face.png`, `{hostile}`")


@pytest.mark.parametrize(
    ("drop", "activity", "waiting_for"),
    [
        (
            manifest(kind="i2v", image="face.png"),
            "generate_segment",
            "generating · waiting for a worker that serves preset wan22-i2v-fp8: none polls "
            "task queue '{gpu}.wan22-i2v-fp8' (start 'pipeline worker gpu' beside a ComfyUI "
            "with the preset's models)",
        ),
        (
            manifest(kind="s2v", image="face.png", audio="voice.wav"),
            "separate_vocals",
            "separating_vocals · waiting for a worker that serves preset wan22-s2v-fp8 and can "
            "separate vocals: none polls task queue '{gpu}.wan22-s2v-fp8.separation' (point "
            "DEMUCS_MODEL_PATH of a GPU worker that serves it at a usable Demucs model, or "
            'drop with "separate_vocals": false for clean speech)',
        ),
    ],
    ids=["preset", "separation"],
)
async def test_status_says_when_no_worker_polls_the_queue_a_stage_waits_on(
    temporal_client: Client, tmp_path: Path, drop: Manifest, activity: str, waiting_for: str
) -> None:
    stubs = Stubs(drop)
    run_id = uuid.uuid4().hex[:12]
    cpu_queue, gpu_prefix = f"cpu-{run_id}", f"nobody-{run_id}"
    # A state dir of its own: a demo stack running from the checkout has a GPU worker.
    settings = load_settings(
        TEMPORAL_TASK_QUEUE=cpu_queue,
        TEMPORAL_GPU_TASK_QUEUE=gpu_prefix,
        PIPELINE_STATE_DIR=tmp_path,
    )
    ref = DropRef.of("bucket", f"inbox/no-gpu-{run_id}/manifest.json", run_id)
    async with Worker(
        temporal_client,
        task_queue=cpu_queue,
        workflows=[SessionWorkflow],
        activities=stubs.for_queue(specs.QueueKind.CPU),
    ):
        handle = await temporal_client.start_workflow(
            SessionWorkflow.run,
            SessionRequest(drop=ref, session_id=ref.session_id, gpu_task_queue=gpu_prefix),
            id=ref.workflow_id,
            task_queue=cpu_queue,
        )
        try:
            for _ in range(200):
                view = await session_status(temporal_client, settings, ref.session_id)
                if view.activity and view.activity["name"] == activity:
                    break
                await asyncio.sleep(0.05)
        finally:
            await handle.terminate("test done")
    assert view.stage == waiting_for.format(gpu=gpu_prefix)


async def summaries(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The summary each scheduled activity carries in the history (what the UI labels)."""
    labels = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            labels.append(json.loads(event.user_metadata.summary.data or b'""'))
    return labels


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert isinstance(metadata, WorkflowMetadata)
    return metadata.current_details


async def test_a_session_reads_at_a_glance_in_the_ui(temporal_client: Client) -> None:
    drop = manifest(kind="i2v", image="face.png", extensions=1)
    async with running(temporal_client, Stubs(drop)) as session:
        result = await session.handle.result()
        details = await current_details(session.handle)
    found = (await session.handle.describe()).typed_search_attributes
    assert found.get(attributes.SESSION_STATUS) == "succeeded"
    assert found.get(attributes.PIPELINE_STAGE) == "succeeded"
    assert found.get(attributes.DROP_KIND) == "i2v"
    assert found.get(attributes.DROP_PRESET) == presets.preset_name(drop)
    plan = plan_for(drop, None)
    labels = await summaries(session.handle)
    assert {"segment 1/2", "segment 2/2", f"stitch {plan.final_frames} frames"} <= set(labels)
    assert details.startswith("succeeded · 2/2 segments")
    # The latest preview by its key, and the command that prints a URL for it that works.
    assert re.search(
        rf"\n\npreview of segment 2: `sessions/[^`]+` "
        rf"\(`pipeline status {re.escape(session.handle.id)}` prints its URL\)$",
        details,
    ), details
    [notified] = session.stubs.notified
    run_id = (await session.handle.describe()).run_id
    assert (notified.status, notified.record_key, notified.message_id) == (
        "succeeded",
        result.result_key,
        f"msg_{run_id}",
    )
    sent = await callback_status(temporal_client, result.session_id, run_id)
    assert sent is not None
    assert (sent.state, sent.status_code, sent.workflow_id) == (
        "delivered",
        200,
        f"callback-{result.session_id}-{run_id}",
    )


async def test_a_callback_that_keeps_failing_leaves_the_session_final_at_once(
    temporal_client: Client, s3_bucket: S3Bucket
) -> None:
    down = CallbackRejected("callback to http://127.0.0.1:9/hook answered 500")
    stubs = Stubs(manifest(kind="i2v", image="face.png"), {"notify_completion": [down] * 10})
    settings = s3_bucket.settings()
    async with running(temporal_client, stubs) as session:
        # Before the callback had its own workflow, the session awaited its ten tries.
        result = await asyncio.wait_for(session.handle.result(), 20)
        run_id = (await session.handle.describe()).run_id
        callback = temporal_client.get_workflow_handle(
            callback_workflow_id(result.session_id, run_id)
        )

        async def retried() -> bool:
            view = await session_status(temporal_client, settings, result.session_id)
            return view.callback is not None and (view.callback.attempt or 0) >= 2

        await eventually(retried, 20)
        view = await session_status(temporal_client, settings, result.session_id)
        running_callback = (await callback.describe()).status
        history = await session.handle.fetch_history()
        await callback.terminate("test done")
    assert view.status == "succeeded"
    assert running_callback is WorkflowExecutionStatus.RUNNING
    assert view.callback is not None
    assert (view.callback.state, view.callback.workflow_id) == ("retrying", callback.id)
    assert view.callback.last_error == down.message
    assert view.callback.line().startswith(f"retrying: try {view.callback.attempt} of 10")
    assert stubs.notified == []  # never delivered
    tries = [c.attempt for c in stubs.calls if c.name == "notify_completion"]
    shown = view.callback.attempt or 0
    assert shown >= 2
    assert tries[: shown - 1] == list(range(1, shown))
    # The new command sequence replays deterministically.
    replayer = Replayer(workflows=[SessionWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_a_callback_given_up_says_so_with_its_last_error(temporal_client: Client) -> None:
    message = "callback to http://127.0.0.1:9/hook answered 500"

    @activity.defn(name=specs.NOTIFY_COMPLETION.name)
    async def last_try_fails(request: NotifyInput) -> NotifyOutput:
        raise ApplicationError(
            message, {"attempt": 10}, type=CallbackRejected.code, non_retryable=True
        )

    session_id, run_id = f"given-up-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    request = NotifyInput(
        session_id=session_id,
        workflow_id=f"session-{session_id}",
        message_id=f"msg_{run_id}",
        status="failed",
        callback_url="http://127.0.0.1:9/hook",
        record_key=SessionLayout(session_id).error,
    )
    async with new_worker(temporal_client, CallbackWorkflow, activities=[last_try_fails]) as w:
        handle = await temporal_client.start_workflow(
            CallbackWorkflow.run,
            request,
            id=callback_workflow_id(session_id, run_id),
            task_queue=w.task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        state = await callback_status(temporal_client, session_id, run_id)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == (
        "callback_rejected",
        f"callback given up after 10 tries: {message}",
    )
    assert state is not None
    assert (state.state, state.attempt, state.last_error) == ("given_up", 10, message)
    assert state.line() == f"given up after 10 tries; last error: {message}"


async def test_progress_from_the_gpu_worker_reaches_query_details_and_attributes(
    temporal_client: Client,
) -> None:
    stubs = Stubs(manifest(kind="i2v", image="face.png", extensions=2), hold_segments=True)
    async with running(temporal_client, stubs) as session:
        await asyncio.wait_for(stubs.segment_started.wait(), 30)
        report = SegmentProgress(
            segment=0,
            node="KSamplerAdvanced",
            doing="sampling step 3/4",
            step=3,
            steps=4,
            seconds_per_step=2.0,
            eta_s=2.0,
            worker="gpu-7@box",
        )
        await session.handle.signal(SignalName.REPORT_PROGRESS, report)
        stale = report.model_copy(update={"segment": 5, "step": 1})
        await session.handle.signal(SignalName.REPORT_PROGRESS, stale)
        progress = await session.handle.query(SessionWorkflow.progress)
        details = await current_details(session.handle)
        found = (await session.handle.describe()).typed_search_attributes
        await session.handle.cancel()
    assert (progress.stage, progress.segment, progress.node) == (
        "generating",
        1,
        "KSamplerAdvanced",
    )
    assert (progress.step, progress.steps, progress.segments_total) == (3, 4, 3)
    assert progress.eta_s == 2.0 + 2 * 4 * 2.0  # This segment's rest, then two more.
    assert progress.frames_total == plan_for(stubs.manifest, None).final_frames
    assert progress.doing == "sampling step 3/4"
    assert details == "segment 1/3 · sampling step 3/4 · ETA 18 s"
    assert found.get(attributes.GPU_WORKER) == "gpu-7@box"


async def test_a_cancelled_session_records_who_and_why_and_keeps_what_it_made(
    temporal_client: Client,
) -> None:
    stubs = Stubs(manifest(kind="i2v", image="face.png"), hold_segments=True)
    async with running(temporal_client, stubs) as session:
        await asyncio.wait_for(stubs.segment_started.wait(), 30)
        await session.handle.cancel(reason="wrong prompt")
        with pytest.raises(WorkflowFailureError):
            await session.handle.result()
        description = await session.handle.describe()
    [cancelled] = stubs.cancellations
    assert (cancelled.reason, cancelled.stage) == ("wrong prompt", "generating")
    layout = SessionLayout(cancelled.session_id)
    assert cancelled.kept == {"prepared_image": layout.prepared_image, "plan": layout.plan}
    assert [n.status for n in stubs.notified] == ["cancelled"]
    assert description.status is WorkflowExecutionStatus.CANCELED
    assert description.typed_search_attributes.get(attributes.SESSION_STATUS) == "cancelled"


async def test_a_worker_serves_sdk_and_pipeline_metrics_on_metrics_port(
    temporal_server: TemporalServer,
) -> None:
    port = free_port()
    settings = load_settings(TEMPORAL_ADDRESS=temporal_server.address, METRICS_PORT=str(port))
    client = await connect(settings, runtime=metrics_runtime(settings, "cpu"))
    async with running(client, Stubs(manifest(kind="i2v", image="face.png"))) as session:
        await session.handle.result()
        async with httpx.AsyncClient() as http:
            scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    assert re.search(r'pipeline_sessions\{[^}]*kind="i2v"[^}]*outcome="succeeded"', scraped)
    assert re.search(r'pipeline_stage_duration_bucket\{[^}]*activity="generate_segment"', scraped)
    assert 'role="cpu"' in scraped
    assert "temporal_workflow_completed" in scraped  # The SDK's own.


async def test_otel_tracing_spans_the_session_and_its_activities(
    temporal_server: TemporalServer,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    settings = load_settings(TEMPORAL_ADDRESS=temporal_server.address, OTEL_TRACING="true")
    client = await connect(settings)
    async with running(client, Stubs(manifest(kind="i2v", image="face.png"))) as session:
        await session.handle.result()
    names = {span.name for span in exporter.get_finished_spans()}
    assert {
        "StartWorkflow:SessionWorkflow",
        "RunWorkflow:SessionWorkflow",
        "StartActivity:generate_segment",
        "RunActivity:generate_segment",
    } <= names


def gpu_calls(session: Session) -> list[tuple[str, str, int]]:
    """GPU calls as (name, "preset", "separation" or "own" queue, attempt), in order."""
    where = {
        session.gpu_queue: "preset",
        session.separation_queue: "separation",
        session.own_queue: "own",
    }
    return [
        (call.name, where[call.task_queue], call.attempt)
        for call in session.stubs.calls
        if call.task_queue in where
    ]


async def test_later_gpu_tasks_go_to_the_worker_that_ran_the_first(
    temporal_client: Client,
) -> None:
    stubs = Stubs(manifest(kind="i2v", image="face.png", extensions=2))
    async with running(temporal_client, stubs) as session:
        stubs.worker_task_queue = session.own_queue
        await session.handle.result()
    assert gpu_calls(session) == [
        ("generate_segment", "preset", 1),
        ("generate_segment", "own", 1),
        ("generate_segment", "own", 1),
    ]


async def test_a_separated_session_sticks_to_the_worker_that_separated_its_vocals(
    temporal_client: Client,
) -> None:
    stubs = Stubs(manifest(kind="infinitetalk", image="face.png", audio="voice.wav"))
    async with running(temporal_client, stubs) as session:
        stubs.worker_task_queue = session.own_queue
        await session.handle.result()
    calls = gpu_calls(session)
    assert calls[0] == ("separate_vocals", "separation", 1)
    assert {where for name, where, _ in calls[1:]} == {"own"}


async def test_a_worker_that_cannot_separate_hands_the_vocals_back_to_one_that_can(
    temporal_client: Client,
) -> None:
    failures: dict[str, list[PipelineError]] = {
        "separate_vocals": [SeparationElsewhere("no Demucs model here")]
    }
    stubs = Stubs(manifest(kind="s2v", image="face.png", audio="voice.wav"), failures)
    async with running(temporal_client, stubs) as session:
        await session.handle.result()
    # Rerouted at once, without spending an attempt, and never to the preset's plain queue.
    assert gpu_calls(session)[:2] == [("separate_vocals", "separation", 1)] * 2
    assert stubs.recorded == []


async def test_a_sticky_task_its_worker_does_not_start_goes_back_to_the_preset_queue(
    temporal_client: Client,
) -> None:
    stubs = Stubs(manifest(kind="i2v", image="face.png", extensions=1))
    async with running(temporal_client, stubs, sticky_s=1.0) as session:
        stubs.worker_task_queue = worker_queue("nobody", "gone")  # a worker that died
        await session.handle.result()
    assert gpu_calls(session) == [
        ("generate_segment", "preset", 1),
        ("generate_segment", "preset", 1),
    ]
    assert stubs.recorded == []


async def test_a_failure_on_the_own_queue_that_is_not_retryable_fails_the_session(
    temporal_client: Client,
) -> None:
    # ``object_changed`` was missing from the hand-kept code list, so the task went back to
    # the shared queue and ran again. Now the error class's flag decides, as for retries.
    failures: dict[str, list[PipelineError]] = {
        "generate_segment": [ObjectChanged("the start frame is no longer version e1")]
    }
    stubs = Stubs(manifest(kind="s2v", image="face.png", audio="voice.wav"), failures)
    async with running(temporal_client, stubs) as session:
        stubs.worker_task_queue = session.own_queue
        with pytest.raises(WorkflowFailureError):
            await session.handle.result()
    assert gpu_calls(session) == [
        ("separate_vocals", "separation", 1),
        ("generate_segment", "own", 1),
    ]
    [recorded] = stubs.recorded
    assert (recorded.code, recorded.retryable) == ("object_changed", False)


async def test_a_busy_worker_hands_the_task_back_without_spending_an_attempt(
    temporal_client: Client,
) -> None:
    failures: dict[str, list[PipelineError]] = {
        "generate_segment": [WorkerBusy("busy"), WorkerBusy("busy")]
    }
    stubs = Stubs(manifest(kind="i2v", image="face.png"), failures)
    async with running(temporal_client, stubs) as session:
        await session.handle.result()
    assert gpu_calls(session) == [("generate_segment", "preset", 1)] * 3
    assert stubs.recorded == []


@pytest.mark.parametrize("settle_s", [0.0, 0.5])
async def test_a_segment_finishing_as_the_session_is_cancelled_still_ends_it_cancelled(
    temporal_client: Client, settle_s: float
) -> None:
    # sdk-python #620: the segment's cancel never reaches it (it does not heartbeat again),
    # it completes, and the workflow, waiting for the cancel to complete, gets its result.
    # settle_s: the segment completes as the cancel is recorded (0) or once the workflow has
    # asked the segment to stop (0.5 s later).
    finish = asyncio.Event()
    stubs = Stubs(manifest(kind="i2v", image="face.png"), finish_when=finish)
    async with running(temporal_client, stubs) as session:
        await asyncio.wait_for(stubs.segment_started.wait(), 30)
        await session.handle.cancel(reason="too late?")
        await asyncio.sleep(settle_s)
        finish.set()
        with pytest.raises(WorkflowFailureError) as failed:
            await session.handle.result()
        description = await session.handle.describe()
    assert isinstance(failed.value.cause, CancelledError)
    assert description.status is WorkflowExecutionStatus.CANCELED
    assert stubs.names()[-2:] == ["record_cancellation", "notify_completion"]
    assert "publish_result" not in stubs.names()
    [cancelled] = stubs.cancellations
    assert (cancelled.reason, cancelled.stage) == ("too late?", "generating")
    assert [n.status for n in stubs.notified] == ["cancelled"]


async def test_a_cancel_while_result_json_is_written_comes_after_the_end(
    temporal_client: Client,
) -> None:
    # Publishing is the commit point: cancelling it halfway would leave result.json beside a
    # cancelled error.json. The session succeeds; `pipeline cancel` says the cancel came late.
    written = asyncio.Event()
    stubs = Stubs(manifest(kind="i2v", image="face.png"), publish_when=written)
    async with running(temporal_client, stubs) as session:
        await asyncio.wait_for(stubs.publishing.wait(), 30)
        await session.handle.cancel(reason="late")
        await asyncio.sleep(0.5)  # The workflow has seen the cancel while publishing.
        written.set()
        await session.handle.result()
        description = await session.handle.describe()
    assert description.status is WorkflowExecutionStatus.COMPLETED
    assert stubs.cancellations == []
    assert [n.status for n in stubs.notified] == ["succeeded"]
    assert description.typed_search_attributes.get(attributes.SESSION_STATUS) == "succeeded"
