"""``SessionWorkflow``: one drop → one session, one activity per stage.

The workflow only orders stages and keeps score; every byte is moved by activities, which
it calls through their specs (``pipeline.workflows.specs``: name, types, queue, policy), so
no I/O library is imported here and mypy checks every argument and result.

GPU work is routed by model preset (``pipeline.domain.queues``): a session's first GPU
task goes to its preset's queue, where only workers whose ComfyUI can run the preset poll
(so a preset no live worker serves leaves the session waiting, never failing); the worker
that ran it answers with its own queue, and the session's later GPU tasks go there, where
its models are already loaded. If that worker does not start such a task within
``sticky_schedule_to_start_s`` (dead, drained, or busy too long), or the attempt fails,
the task goes back to the preset's queue: Temporal's worker-specific task queue pattern.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from pipeline.domain.contracts import (
        DEFAULT_SESSION_DEADLINE_S,
        ExtractFramesInput,
        FailureInput,
        GenerateSegmentInput,
        GpuOutput,
        PadAudioInput,
        PlanInput,
        PrepareAudioInput,
        PreparedAudio,
        PrepareImageInput,
        PublishInput,
        SeparationInput,
        SessionProgress,
        SessionRequest,
        SessionResult,
        Stage,
        StitchInput,
        TakeDropInput,
        TakenDrop,
    )
    from pipeline.domain.errors import NON_RETRYABLE_CODES, REROUTE_CODES, MissingMediaError
    from pipeline.domain.frames.plan import FramePlan
    from pipeline.domain.layout import SessionLayout
    from pipeline.domain.manifest import Manifest
    from pipeline.domain.queues import preset_queue
    from pipeline.workflows import attributes
    from pipeline.workflows.specs import (
        EXTRACT_LAST_FRAMES,
        GENERATE_SEGMENT,
        PAD_AUDIO,
        PLAN_FRAMES,
        PREPARE_AUDIO,
        PREPARE_IMAGE,
        PUBLISH_RESULT,
        RECORD_FAILURE,
        SEPARATE_VOCALS,
        STITCH,
        TAKE_DROP,
        ActivitySpec,
        InputT,
        OutputT,
        execute,
    )

PlacedT = TypeVar("PlacedT", bound=GpuOutput)


WAIT_FOR_MEDIA = "wait-for-media"
"""Patch id: sessions started before waiting for media existed fail at once on replay."""
MEDIA_POLL_FIRST = timedelta(seconds=5)
MEDIA_POLL_MAX = timedelta(seconds=60)
LAST_WINDOW = timedelta(minutes=5)


def derive_seed(session_id: str) -> int:
    """A seed that is stable for a session, so a retried segment renders the same frames."""
    return int(hashlib.sha256(session_id.encode()).hexdigest()[:12], 16)


@workflow.defn
class SessionWorkflow:
    def __init__(self) -> None:
        self._progress = SessionProgress(stage="taking_drop")
        self._timings: dict[str, float] = {}
        self._gpu_queues = "gpu"
        self._sticky_queue: str | None = None
        self._sticky_timeout = timedelta(minutes=10)
        self._stand_ins: dict[str, str] = {}
        self._deadline = workflow.now() + timedelta(seconds=DEFAULT_SESSION_DEADLINE_S)

    @workflow.query
    def progress(self) -> SessionProgress:
        return self._progress

    @workflow.run
    async def run(self, request: SessionRequest) -> SessionResult:
        try:
            return await self._run(request)
        except ActivityError as failure:
            if is_cancelled_exception(failure):
                raise  # a cancelled session ends CANCELED: nothing failed, nothing to record
            code, message, retryable, detail = _describe_failure(failure)
            self._progress = self._progress.model_copy(update={"error": message})
            await self._call(
                RECORD_FAILURE,
                FailureInput(
                    session_id=request.session_id,
                    workflow_id=workflow.info().workflow_id,
                    stage=self._progress.stage,
                    code=code,
                    message=message,
                    retryable=retryable,
                    detail=detail,
                ),
            )
            self._set_stage("failed")
            raise ApplicationError(message, detail, type=code, non_retryable=True) from None

    async def _run(self, request: SessionRequest) -> SessionResult:
        session_id = request.session_id
        self._gpu_queues = request.gpu_task_queue
        self._deadline = workflow.now() + timedelta(seconds=request.deadline_s)
        self._sticky_timeout = timedelta(seconds=request.sticky_schedule_to_start_s)
        layout = SessionLayout(session_id)
        run = workflow.now().strftime("%Y%m%dT%H%M%SZ")

        self._set_stage("taking_drop")
        taken = await self._take_drop(request)
        manifest = taken.manifest
        self._progress = self._progress.model_copy(update={"preset": taken.preset})
        workflow.upsert_search_attributes([attributes.DROP_KIND.value_set(manifest.kind.value)])

        self._set_stage("preparing_image")
        prepared = await self._call(
            PREPARE_IMAGE,
            PrepareImageInput(
                session_id=session_id,
                image_key=taken.inputs["image"],
                width=manifest.width,
                height=manifest.height,
                fit=manifest.fit,
            ),
        )

        audio: PreparedAudio | None = None
        if "audio" in taken.inputs:
            self._set_stage("preparing_audio")
            audio = await self._call(
                PREPARE_AUDIO,
                PrepareAudioInput(
                    session_id=session_id, audio_key=taken.inputs["audio"], manifest=manifest
                ),
            )

        self._set_stage("planning")
        plan = await self._call(
            PLAN_FRAMES,
            PlanInput(
                session_id=session_id,
                manifest=manifest,
                audio_s=audio.duration_s if audio else None,
                image=prepared,
            ),
        )
        drive_key = await self._drive_audio(session_id, manifest, plan, audio) if audio else None

        self._set_stage("generating")
        self._progress = self._progress.model_copy(update={"segments_total": len(plan.segments)})
        seed = manifest.seed if manifest.seed is not None else derive_seed(session_id)
        conditioning = prepared.key
        previous: str | None = None
        segment_keys: list[str] = []
        for segment in plan.segments:
            output = await self._gpu(
                GENERATE_SEGMENT,
                GenerateSegmentInput(
                    session_id=session_id,
                    run=run,
                    segment=segment,
                    plan=plan,
                    manifest=manifest,
                    conditioning_key=conditioning,
                    seed=seed + segment.index,
                    audio_key=drive_key,
                    previous_key=previous,
                ),
            )
            segment_keys.append(output.key)
            self._progress = self._progress.model_copy(update={"segments_done": segment.index + 1})
            if plan.continuation == "previous_segment":
                previous = output.key
            elif segment.index + 1 < len(plan.segments):
                frames = await self._call(
                    EXTRACT_LAST_FRAMES,
                    ExtractFramesInput(
                        video_key=output.key,
                        output_key=layout.segment_last_frame(run, segment.index),
                    ),
                )
                conditioning = frames.key

        self._set_stage("stitching")
        stitched = await self._call(
            STITCH,
            StitchInput(
                session_id=session_id,
                run=run,
                plan=plan,
                segment_keys=tuple(segment_keys),
                audio_key=audio.mix_key if audio else None,
            ),
        )

        self._set_stage("publishing")
        artifacts = {f"segment_{i:03d}": key for i, key in enumerate(segment_keys)}
        artifacts |= {"combined": stitched.key, "plan": layout.plan, "prepared_image": prepared.key}
        published = await self._call(
            PUBLISH_RESULT,
            PublishInput(
                session_id=session_id,
                workflow_id=workflow.info().workflow_id,
                run=run,
                manifest=manifest,
                inputs=taken.inputs,
                artifacts=artifacts,
                timings_s=dict(self._timings),
                frames=stitched.frames,
                duration_s=stitched.duration_s,
                stand_ins=dict(self._stand_ins),
            ),
        )
        self._set_stage("succeeded")
        return SessionResult(
            session_id=session_id,
            result_key=published.result_key,
            combined_key=stitched.key,
            urls=published.urls,
            frames=stitched.frames,
            duration_s=stitched.duration_s,
        )

    async def _drive_audio(
        self, session_id: str, manifest: Manifest, plan: FramePlan, audio: PreparedAudio
    ) -> str:
        """The audio the model hears: the vocals (unless skipped), padded to the plan."""
        source = audio.mix_key
        if manifest.separate_vocals:
            self._set_stage("separating_vocals")
            vocals = await self._gpu(
                SEPARATE_VOCALS,
                SeparationInput(session_id=session_id, audio_key=audio.mix_key),
            )
            source = vocals.vocals_key
            if vocals.stand_in:
                self._stand_ins["separating_vocals"] = vocals.stand_in
        padded = await self._call(
            PAD_AUDIO,
            PadAudioInput(
                session_id=session_id,
                audio_key=source,
                duration_s=plan.audio_padded_s or audio.duration_s,
            ),
        )
        return padded.key

    async def _take_drop(self, request: SessionRequest) -> TakenDrop:
        """Take the drop, waiting durably up to the media grace for media still uploading.

        Parallel uploads (``aws s3 sync``, ``rclone``) often land the small manifest before
        a large medium: until ``media_grace_s`` has passed, a ``missing_media`` refusal
        moves nothing and is asked again on a timer (backing off to ``MEDIA_POLL_MAX``);
        then what is there is kept with the session and it fails with ``missing_media``.
        """
        argument = TakeDropInput(drop=request.drop, session_id=request.session_id)
        if not workflow.patched(WAIT_FOR_MEDIA):
            return await self._call(TAKE_DROP, argument)
        give_up = workflow.now() + timedelta(seconds=request.media_grace_s)
        poll = MEDIA_POLL_FIRST
        while True:
            may_arrive = workflow.now() + poll <= give_up
            try:
                return await self._call(
                    TAKE_DROP, argument.model_copy(update={"media_may_arrive": may_arrive})
                )
            except ActivityError as failure:
                cause = failure.cause
                if not may_arrive or not (
                    isinstance(cause, ApplicationError) and cause.type == MissingMediaError.code
                ):
                    raise
                missing = _detail(cause).get("missing", [])
                self._progress = self._progress.model_copy(
                    update={"waiting_for": [str(name) for name in missing]}
                )
                self._set_stage("waiting_for_media")
                workflow.set_current_details(f"waiting for {', '.join(map(str, missing))}")
            await workflow.sleep(poll)
            poll = min(poll * 2, MEDIA_POLL_MAX)
            self._progress = self._progress.model_copy(update={"waiting_for": []})
            self._set_stage("taking_drop")

    async def _call(self, spec: ActivitySpec[InputT, OutputT], argument: InputT) -> OutputT:
        """Run one CPU activity by its spec and add its wall time to the session's timings.

        All attempts together end at the session's deadline (at least ``LAST_WINDOW`` from
        now, so a session past it can still record its failure).
        """
        started = workflow.now()
        result = await execute(spec, argument, schedule_to_close=self._window(started))
        self._add_time(spec.name, started)
        return result

    async def _gpu(self, spec: ActivitySpec[InputT, PlacedT], argument: InputT) -> PlacedT:
        """Run a GPU activity where the session's models are loaded, else on its preset's queue."""
        started = workflow.now()
        while True:
            if self._sticky_queue is not None:
                try:
                    result = await execute(
                        spec,
                        argument,
                        gpu_task_queue=self._sticky_queue,
                        sticky_timeout=self._sticky_timeout,
                        schedule_to_close=self._window(workflow.now()),
                    )
                    break
                except ActivityError as failure:
                    if is_cancelled_exception(failure) or _code(failure) in NON_RETRYABLE_CODES:
                        raise
                    workflow.logger.info(
                        "%s not run by worker queue %s (%s): back to the preset's queue",
                        spec.name,
                        self._sticky_queue,
                        _code(failure),
                    )
                    self._sticky_queue = None
            queue = preset_queue(self._gpu_queues, self._progress.preset or "")
            try:
                result = await execute(
                    spec,
                    argument,
                    gpu_task_queue=queue,
                    schedule_to_close=self._window(workflow.now()),
                )
            except ActivityError as failure:
                if _code(failure) in REROUTE_CODES:
                    continue  # "not this worker": another one takes it from the queue
                raise
            self._sticky_queue = result.worker_task_queue
            break
        self._add_time(spec.name, started)
        return result

    def _window(self, now: datetime) -> timedelta:
        """What is left until the session's deadline, at least ``LAST_WINDOW``."""
        return max(self._deadline - now, LAST_WINDOW)

    def _add_time(self, name: str, started: datetime) -> None:
        elapsed = (workflow.now() - started).total_seconds()
        self._timings[name] = round(self._timings.get(name, 0.0) + elapsed, 3)

    def _set_stage(self, stage: Stage) -> None:
        self._progress = self._progress.model_copy(update={"stage": stage})
        workflow.upsert_search_attributes([attributes.PIPELINE_STAGE.value_set(stage)])


def _detail(error: ApplicationError) -> dict[str, Any]:
    return error.details[0] if error.details and isinstance(error.details[0], dict) else {}


def _code(failure: ActivityError) -> str:
    """The error type an activity failed with (``timeout`` for any timeout)."""
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "internal"
    return "timeout" if isinstance(cause, TimeoutError) else "internal"


def _describe_failure(failure: ActivityError) -> tuple[str, str, bool, dict[str, Any]]:
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        detail = _detail(cause)
        return cause.type or "internal", cause.message, not cause.non_retryable, detail
    if isinstance(cause, TimeoutError):
        return (
            "timeout",
            f"{failure.activity_type} timed out ({cause.type.name if cause.type else 'unknown'})",
            True,
            {},
        )
    return "internal", str(cause or failure), True, {}
