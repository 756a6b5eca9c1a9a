"""Activity specs: the one table of what workflows call and how.

Each ``ActivitySpec[InputT, OutputT]`` binds an activity's registered name to the one
model it takes, the one model it returns, the task queue it runs on and its timeouts and
retry policy. Workflows call ``execute(SPEC, argument)``, so mypy rejects an argument or a
result that does not fit the spec; activities register with
``@activity.defn(name=SPEC.name)``, and ``tests/unit/test_activity_specs.py`` checks each
registered method's annotations against its spec.

Sandbox-safe: ``temporalio.common``/``workflow``, ``datetime`` and the pure domain only, so
workflows import no I/O code through it. Names and types never change (replay and running
workflows depend on them); timeouts and retry policies may, as Temporal does not replay them.

Session activities retry without an attempt limit, with backoff capped at
``maximum_interval``, until the session's deadline (``execute(schedule_to_close=...)``,
``SessionRequest.deadline_s``): outages are outlived, while a failure that is not
retryable (bad input: an ``ApplicationError`` with ``non_retryable``, set by its error
class) fails at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

from pipeline.domain.contracts import (
    CancellationInput,
    CheckSegmentInput,
    ExtractedFrames,
    ExtractFramesInput,
    FailureInput,
    FailureRecorded,
    GenerateSegmentInput,
    LoadSessionInput,
    NotifyInput,
    NotifyOutput,
    PadAudioInput,
    PaddedAudio,
    PlanInput,
    PrepareAudioInput,
    PreparedAudio,
    PreparedImage,
    PrepareImageInput,
    PublishInput,
    PublishOutput,
    ReconcileReport,
    ReconcileRequest,
    ReusedSegments,
    ReuseSegmentsInput,
    SegmentOutput,
    Selected,
    Selection,
    SeparationInput,
    SeparationOutput,
    SignedOutputs,
    SignOutputsInput,
    StitchInput,
    StitchOutput,
    TakeDropInput,
    TakenDrop,
)
from pipeline.domain.errors import REROUTE_CODES
from pipeline.domain.frames.plan import FramePlan
from pipeline.domain.previews import (
    RunPreviews,
    RunPreviewsInput,
    SegmentPreview,
    SegmentPreviewInput,
)
from pipeline.domain.quality import QualityReport

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)


class QueueKind(StrEnum):
    """Which worker runs an activity."""

    CPU = "cpu"
    """The calling workflow's own task queue, served by the ``cpu`` worker."""
    GPU = "gpu"
    """A GPU task queue the workflow names per call (``pipeline.domain.queues``): the
    session's preset's queue, or the own queue of the worker that runs the session."""


@dataclass(frozen=True)
class ActivityPolicy:
    """How long one attempt may run, how often it must heartbeat, and how it retries."""

    start_to_close: timedelta
    heartbeat: timedelta
    retry: RetryPolicy


CPU_POLICY = ActivityPolicy(
    start_to_close=timedelta(minutes=20),
    heartbeat=timedelta(minutes=1),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=0,
    ),
)
GPU_POLICY = ActivityPolicy(
    start_to_close=timedelta(minutes=45),
    # GPU workers heartbeat every GPU_HEARTBEAT_S (10 s) even while a model loads without a
    # progress message, so a dead worker's task is retried elsewhere within 30 s.
    heartbeat=timedelta(seconds=30),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=0,
        # A rerouted task ("not this worker") goes back to its queue at once, from the
        # workflow, without spending an attempt. (Failures that are not retryable at all
        # say so themselves: ``ApplicationError.non_retryable``.)
        non_retryable_error_types=sorted(REROUTE_CODES),
    ),
)
NOTIFY_POLICY = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    heartbeat=timedelta(seconds=30),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        maximum_attempts=10,
    ),
)
"""A completion callback: ten tries over about 25 minutes, then given up (and logged)."""

STICKY_RETRY = RetryPolicy(maximum_attempts=1)
"""On a worker's own queue a failed attempt is not retried there: the workflow sends the
task back to the preset's queue, where any worker that serves it may take it."""
RECONCILE_POLICY = ActivityPolicy(
    start_to_close=timedelta(minutes=10),
    heartbeat=timedelta(minutes=1),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=3,
    ),
)
"""A reconcile pass that keeps failing waits for the schedule's next one, not piling up."""


@dataclass(frozen=True)
class ActivitySpec(Generic[InputT, OutputT]):
    """One activity as workflows see it. Invariant in both types, so no near miss fits."""

    name: str
    input_type: type[InputT]
    output_type: type[OutputT]
    queue: QueueKind
    policy: ActivityPolicy
    cancellation: workflow.ActivityCancellationType = workflow.ActivityCancellationType.TRY_CANCEL
    """GPU work waits for its cancel to complete (the ComfyUI prompt interrupted), so a
    cancelled session ends with no worker still busy for it."""


TAKE_DROP = ActivitySpec("take_drop", TakeDropInput, TakenDrop, QueueKind.CPU, CPU_POLICY)
PREPARE_IMAGE = ActivitySpec(
    "prepare_image", PrepareImageInput, PreparedImage, QueueKind.CPU, CPU_POLICY
)
PREPARE_AUDIO = ActivitySpec(
    "prepare_audio", PrepareAudioInput, PreparedAudio, QueueKind.CPU, CPU_POLICY
)
PLAN_FRAMES = ActivitySpec("plan_frames", PlanInput, FramePlan, QueueKind.CPU, CPU_POLICY)
SEPARATE_VOCALS = ActivitySpec(
    "separate_vocals",
    SeparationInput,
    SeparationOutput,
    QueueKind.GPU,
    GPU_POLICY,
    workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
)
PAD_AUDIO = ActivitySpec("pad_audio", PadAudioInput, PaddedAudio, QueueKind.CPU, CPU_POLICY)
GENERATE_SEGMENT = ActivitySpec(
    "generate_segment",
    GenerateSegmentInput,
    SegmentOutput,
    QueueKind.GPU,
    GPU_POLICY,
    workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
)
CHECK_SEGMENT = ActivitySpec(
    "check_segment", CheckSegmentInput, QualityReport, QueueKind.CPU, CPU_POLICY
)
EXTRACT_LAST_FRAMES = ActivitySpec(
    "extract_last_frames", ExtractFramesInput, ExtractedFrames, QueueKind.CPU, CPU_POLICY
)
MAKE_SEGMENT_PREVIEW = ActivitySpec(
    "make_segment_preview", SegmentPreviewInput, SegmentPreview, QueueKind.CPU, CPU_POLICY
)
STITCH = ActivitySpec("stitch", StitchInput, StitchOutput, QueueKind.CPU, CPU_POLICY)
MAKE_RUN_PREVIEWS = ActivitySpec(
    "make_run_previews", RunPreviewsInput, RunPreviews, QueueKind.CPU, CPU_POLICY
)
SIGN_OUTPUTS = ActivitySpec(
    "sign_outputs", SignOutputsInput, SignedOutputs, QueueKind.CPU, CPU_POLICY
)
PUBLISH_RESULT = ActivitySpec(
    "publish_result", PublishInput, PublishOutput, QueueKind.CPU, CPU_POLICY
)
RECORD_FAILURE = ActivitySpec(
    "record_failure", FailureInput, FailureRecorded, QueueKind.CPU, CPU_POLICY
)
RECORD_CANCELLATION = ActivitySpec(
    "record_cancellation", CancellationInput, FailureRecorded, QueueKind.CPU, CPU_POLICY
)
NOTIFY_COMPLETION = ActivitySpec(
    "notify_completion", NotifyInput, NotifyOutput, QueueKind.CPU, NOTIFY_POLICY
)
LOAD_SESSION = ActivitySpec("load_session", LoadSessionInput, TakenDrop, QueueKind.CPU, CPU_POLICY)
REUSE_SEGMENTS = ActivitySpec(
    "reuse_segments", ReuseSegmentsInput, ReusedSegments, QueueKind.CPU, CPU_POLICY
)
SELECT_SESSIONS = ActivitySpec(
    "select_sessions", Selection, Selected, QueueKind.CPU, RECONCILE_POLICY
)
RECONCILE_INBOX = ActivitySpec(
    "reconcile_inbox", ReconcileRequest, ReconcileReport, QueueKind.CPU, RECONCILE_POLICY
)

ALL: tuple[ActivitySpec[Any, Any], ...] = (
    TAKE_DROP,
    PREPARE_IMAGE,
    PREPARE_AUDIO,
    PLAN_FRAMES,
    SEPARATE_VOCALS,
    PAD_AUDIO,
    GENERATE_SEGMENT,
    CHECK_SEGMENT,
    EXTRACT_LAST_FRAMES,
    MAKE_SEGMENT_PREVIEW,
    STITCH,
    MAKE_RUN_PREVIEWS,
    SIGN_OUTPUTS,
    PUBLISH_RESULT,
    RECORD_FAILURE,
    RECORD_CANCELLATION,
    NOTIFY_COMPLETION,
    LOAD_SESSION,
    REUSE_SEGMENTS,
    SELECT_SESSIONS,
    RECONCILE_INBOX,
)
"""Every activity, in the order a session first calls it."""


async def execute(
    spec: ActivitySpec[InputT, OutputT],
    argument: InputT,
    *,
    gpu_task_queue: str | None = None,
    schedule_to_close: timedelta | None = None,
    sticky_timeout: timedelta | None = None,
    summary: str | None = None,
) -> OutputT:
    """Run ``spec`` from a workflow with its policy, on its queue.

    ``gpu_task_queue`` names the queue of ``QueueKind.GPU`` specs (a ``ValueError`` without
    one); ``QueueKind.CPU`` specs run on the calling workflow's own task queue.
    ``schedule_to_close`` bounds all attempts together (the caller's deadline).
    ``sticky_timeout`` marks a worker's own queue: the task fails with a schedule-to-start
    timeout if that worker does not start it in time, and is not retried there. ``summary``
    labels the call in the Temporal UI ("segment 2/4", "stitch 279 frames").
    """
    task_queue = None
    if spec.queue is QueueKind.GPU:
        if gpu_task_queue is None:
            raise ValueError(f"{spec.name} runs on a GPU task queue, and none was given")
        task_queue = gpu_task_queue
    # By name, so the activity's I/O code stays out of the sandbox; the spec types it.
    result: OutputT = await workflow.execute_activity(
        spec.name,
        argument,
        result_type=spec.output_type,
        task_queue=task_queue,
        schedule_to_start_timeout=sticky_timeout,
        start_to_close_timeout=spec.policy.start_to_close,
        schedule_to_close_timeout=schedule_to_close,
        heartbeat_timeout=spec.policy.heartbeat,
        retry_policy=STICKY_RETRY if sticky_timeout is not None else spec.policy.retry,
        cancellation_type=spec.cancellation,
        summary=summary,
    )
    return result
