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
Vocal separation, when the manifest asks for it, is a session's first GPU task and goes to
the preset's separation queue, which only workers that also have a Demucs model poll.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
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
        CancellationInput,
        CheckSegmentInput,
        ExtractFramesInput,
        FailureInput,
        GenerateSegmentInput,
        GpuOutput,
        LoadSessionInput,
        NotifyInput,
        Outcome,
        PadAudioInput,
        PlanInput,
        PrepareAudioInput,
        PreparedAudio,
        PrepareImageInput,
        PublishInput,
        ReuseSegmentsInput,
        SegmentOutput,
        SegmentProgress,
        SeparationInput,
        SessionProgress,
        SessionRequest,
        SessionResult,
        SignalName,
        SignOutputsInput,
        Stage,
        StitchInput,
        TakeDropInput,
        TakenDrop,
    )
    from pipeline.domain.cost import SEPARATION_STAGE, GpuUse
    from pipeline.domain.errors import REROUTE_CODES, MissingMediaError, QualityFailed
    from pipeline.domain.frames.plan import FramePlan
    from pipeline.domain.layout import SessionLayout
    from pipeline.domain.manifest import Manifest
    from pipeline.domain.previews import RunPreviewsInput, SegmentPreviewInput
    from pipeline.domain.provenance import ProvenanceRecord
    from pipeline.domain.quality import QcPolicy, QualityReport
    from pipeline.domain.quality_captions import run_captions, seam_captions
    from pipeline.domain.queues import preset_queue, separation_queue
    from pipeline.domain.rendering import SegmentRender
    from pipeline.workflows import attributes, describe
    from pipeline.workflows.callback import start_callback
    from pipeline.workflows.specs import (
        CHECK_SEGMENT,
        EXTRACT_LAST_FRAMES,
        GENERATE_SEGMENT,
        LOAD_SESSION,
        MAKE_RUN_PREVIEWS,
        MAKE_SEGMENT_PREVIEW,
        NOTIFY_COMPLETION,
        PAD_AUDIO,
        PLAN_FRAMES,
        PREPARE_AUDIO,
        PREPARE_IMAGE,
        PUBLISH_RESULT,
        RECORD_CANCELLATION,
        RECORD_FAILURE,
        REUSE_SEGMENTS,
        SEPARATE_VOCALS,
        SIGN_OUTPUTS,
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
OPERATE_PATCH = "operate-v1"
"""Sessions started before it end without a status attribute, callback or cancel record."""
SEPARATION_QUEUE = "separation-queue"
"""Patch id: sessions started before it sent vocal separation to the preset's own queue."""
RETRYABLE_FLAG = "retryable-flag"
"""Patch id: sessions started before it sent a failed sticky task back to the shared queue
unless its code was one of ``_LISTED_FINAL_CODES``; since, the failure's ``non_retryable``
flag (its error class's ``retryable``) decides."""
CALLBACK_CHILD = "callback-child-v1"
"""Patch id: sessions started before it awaited their completion callback's ten tries
before ending; since, they start it as an abandoned child workflow and end."""
QUALITY_PATCH = "quality-gate-v1"
"""Patch id: sessions started before it publish their segments unchecked, without previews."""
PROVENANCE_PATCH = "provenance-v1"
"""Patch id: sessions started before it publish their outputs unsigned; since, the combined
video, each kept segment and the poster carry C2PA Content Credentials (``sign_outputs``)."""
CANCEL_PATCH = "cancel-never-lost-v1"
"""Patch id: sessions started before it went on when a step completed although the session
had been asked to cancel meanwhile (sdk-python #620), and let a cancel interrupt publishing
or recording an outcome already decided."""
RESEED_STRIDE = 1_000_003
"""A re-render's seed moves by this prime per attempt, so it meets no other segment's seed
(``seed + index``) of any plan shorter than a million segments."""
_LISTED_FINAL_CODES = frozenset(
    {
        "bad_input",
        "bad_manifest",
        "missing_media",
        "unsupported_kind",
        "bad_media",
        "invalid_graph",
        "misconfigured",
    }
)
"""The hand-kept list sessions started before ``RETRYABLE_FLAG`` decided by, as they ran:
it missed ``separation_unavailable``, ``object_changed`` and other non-retryable codes.
Only replay reads it; drop it with the patch once no such session is open."""


def derive_seed(session_id: str) -> int:
    """A seed that is stable for a session, so a retried segment renders the same frames."""
    return int(hashlib.sha256(session_id.encode()).hexdigest()[:12], 16)


def attempt_seed(segment_seed: int, attempt: int) -> int:
    """A segment's seed at quality attempt ``attempt`` (0: its first render, the segment's
    own ``seed + index``). A Temporal retry of an attempt keeps it; a re-render after a
    failed check does not."""
    return segment_seed + attempt * RESEED_STRIDE


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
        self._manifest: Manifest | None = None
        self._made: dict[str, str] = {}
        """Artifact name → key of what the session made so far (kept when cancelled)."""
        self._segment_frames: list[int] = []
        self._rerun_run: str | None = None
        """A rerun's generation, where its failure is recorded."""
        self._quality: list[QualityReport] | None = None
        """Every quality check so far, each attempt; None while the gate is off."""
        self._renders: list[SegmentRender] = []
        """Every GPU render of the run so far, re-renders included (provenance, cost)."""
        self._other_gpu: list[GpuUse] = []
        """The run's GPU work besides segment renders (separation), for its cost."""
        self._ending = False
        """Publishing or recording the outcome: a cancel no longer stops the session."""

    @workflow.query
    def progress(self) -> SessionProgress:
        """Stage, segment i/n, node, sampler step/total, frames done/total, ETA."""
        return self._progress

    @workflow.signal(name=SignalName.REPORT_PROGRESS)
    def report_progress(self, report: SegmentProgress) -> None:
        """A GPU worker's progress on the segment rendering now; late reports are dropped."""
        progress = self._progress
        if progress.stage != "generating" or report.segment != progress.segments_done:
            return
        eta = report.eta_s
        if eta is not None and report.seconds_per_step is not None:
            later = progress.segments_total - progress.segments_done - 1
            eta += later * report.steps * report.seconds_per_step
        if report.worker and report.worker != progress.worker:
            workflow.upsert_search_attributes([attributes.GPU_WORKER.value_set(report.worker)])
        self._update(
            segment=report.segment + 1,
            node=report.node,
            doing=report.doing or None,
            step=report.step,
            steps=report.steps,
            eta_s=eta,
            worker=report.worker,
        )

    @workflow.run
    async def run(self, request: SessionRequest) -> SessionResult:
        try:
            result = await self._run(request)
        except (ActivityError, ApplicationError, asyncio.CancelledError) as failure:
            if is_cancelled_exception(failure):
                await self._end_cancelled(request)
                raise  # A cancelled session ends CANCELED, with error.json saying who and why.
            if not isinstance(failure, ActivityError | ApplicationError):
                raise
            code, message, retryable, detail = _describe_failure(failure)
            self._progress = self._progress.model_copy(update={"error": message})
            self._ending = True  # The outcome is decided: a cancel now comes after the end.
            recorded = await self._call(
                RECORD_FAILURE,
                FailureInput(
                    session_id=request.session_id,
                    workflow_id=workflow.info().workflow_id,
                    stage=self._progress.stage,
                    code=code,
                    message=message,
                    retryable=retryable,
                    detail=detail,
                    run=self._rerun_run,
                    changed=request.rerun.overrides if request.rerun else {},
                    kind=self._manifest.kind.value if self._manifest else None,
                    preset=self._progress.preset,
                    drop_key=request.drop.manifest_key,
                    timings_s=dict(self._timings),
                    renders=tuple(self._renders),
                    other_gpu=tuple(self._other_gpu),
                ),
            )
            self._set_stage("failed")
            await self._end(request, "failed", recorded.key, code)
            raise ApplicationError(message, detail, type=code, non_retryable=True) from None
        await self._end(request, "succeeded", result.result_key)
        return result

    async def _run(self, request: SessionRequest) -> SessionResult:
        session_id = request.session_id
        self._gpu_queues = request.gpu_task_queue
        self._deadline = workflow.now() + timedelta(seconds=request.deadline_s)
        self._sticky_timeout = timedelta(seconds=request.sticky_schedule_to_start_s)
        layout = SessionLayout(session_id)
        run = workflow.now().strftime("%Y%m%dT%H%M%SZ")

        self._set_stage("taking_drop")
        if request.rerun is None:
            taken = await self._take_drop(request)
        else:  # A new generations/{run}/ beside the earlier ones, from the session's inputs.
            run = self._rerun_run = f"{run}-{request.rerun.batch_id}"
            taken = await self._call(
                LOAD_SESSION,
                LoadSessionInput(session_id=session_id, overrides=request.rerun.overrides),
                summary="load the session for a rerun",
            )
        manifest = self._manifest = taken.manifest
        self._progress = self._progress.model_copy(update={"preset": taken.preset})
        marks = [attributes.DROP_KIND.value_set(manifest.kind.value)]
        if taken.preset:
            marks.append(attributes.DROP_PRESET.value_set(taken.preset))
        workflow.upsert_search_attributes(marks)

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
        self._made["prepared_image"] = prepared.key

        audio: PreparedAudio | None = None
        if "audio" in taken.inputs:
            self._set_stage("preparing_audio")
            audio = await self._call(
                PREPARE_AUDIO,
                PrepareAudioInput(
                    session_id=session_id, audio_key=taken.inputs["audio"], manifest=manifest
                ),
            )
            self._made["prepared_audio"] = audio.mix_key

        self._set_stage("planning")
        plan = await self._call(
            PLAN_FRAMES,
            PlanInput(
                session_id=session_id,
                manifest=manifest,
                audio_s=audio.duration_s if audio else None,
                image=prepared,
                audio=audio,
            ),
        )
        drive_key = await self._drive_audio(session_id, manifest, plan, audio) if audio else None

        self._made["plan"] = layout.plan
        self._update(
            segments_total=len(plan.segments),
            frames_total=plan.final_frames,
            steps=taken.steps,
        )
        self._set_stage("generating")
        seed = manifest.seed if manifest.seed is not None else derive_seed(session_id)
        conditioning = prepared.key
        previous: str | None = None
        segment_keys: list[str] = []
        reused = await self._reuse_segments(request, run, plan)
        for segment in plan.segments:
            if segment.index < len(reused):
                key, frames_made = reused[segment.index], segment.length
            else:
                output = await self._render_checked(
                    taken,
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
                    segment_keys[-1] if segment_keys else None,
                )
                key, frames_made = output.key, output.frames
            segment_keys.append(key)
            self._made[f"segment_{segment.index:03d}"] = key
            self._segment_frames.append(frames_made)
            if workflow.patched(QUALITY_PATCH):
                preview = await self._call(
                    MAKE_SEGMENT_PREVIEW,
                    SegmentPreviewInput(
                        session_id=session_id, run=run, index=segment.index, segment_key=key
                    ),
                    summary=f"preview of segment {segment.index + 1}",
                )
                self._made[f"preview_segment_{segment.index:03d}"] = preview.key
                self._update(previews=[*self._progress.previews, preview.key])
            self._update(
                segments_done=segment.index + 1,
                frames_done=min(sum(self._segment_frames), plan.final_frames),
                step=0,
                node=None,
            )
            if plan.continuation == "previous_segment":
                previous = key
            elif segment.index + 1 < len(plan.segments):
                frames = await self._call(
                    EXTRACT_LAST_FRAMES,
                    ExtractFramesInput(
                        video_key=key,
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
            summary=f"stitch {plan.final_frames} frames",
        )
        self._made["combined"] = stitched.key
        if workflow.patched(QUALITY_PATCH):
            previews = await self._call(
                MAKE_RUN_PREVIEWS,
                RunPreviewsInput(
                    session_id=session_id,
                    run=run,
                    combined_key=stitched.key,
                    plan=plan,
                    seam_captions=seam_captions(plan, self._quality),
                    run_captions=run_captions(self._quality),
                ),
                summary="poster and contact sheet",
            )
            self._made["preview_poster"] = previews.poster_key
            self._made["preview_contact_sheet"] = previews.contact_sheet_key

        signed = await self._sign_outputs(session_id, taken, manifest, run, seed, segment_keys)

        self._set_stage("publishing")
        self._ending = True  # result.json is the end: a cancel would leave two records.
        # Everything the run made: prepared image and audio, vocals, plan, segments, video.
        artifacts = dict(self._made)
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
                changed=request.rerun.overrides if request.rerun else {},
                preset=taken.preset,
                drop_key=request.drop.manifest_key,
                quality=tuple(self._quality) if self._quality is not None else None,
                renders=tuple(self._renders),
                other_gpu=tuple(self._other_gpu),
                provenance=signed,
            ),
        )
        self._set_stage("succeeded")
        return SessionResult(
            session_id=session_id,
            result_key=published.result_key,
            combined_key=stitched.key,
            urls=published.urls,
            expires_at=published.expires_at,
            frames=stitched.frames,
            duration_s=stitched.duration_s,
        )

    async def _sign_outputs(
        self,
        session_id: str,
        taken: TakenDrop,
        manifest: Manifest,
        run: str,
        seed: int,
        segment_keys: list[str],
    ) -> ProvenanceRecord | None:
        """Under ``PROVENANCE_PATCH``: sign the combined video, each kept segment and the
        poster in place, after the stitch and the previews read them (a re-mux breaks
        the binding); None for sessions started before it."""
        if not workflow.patched(PROVENANCE_PATCH):
            return None
        objects = {"combined": self._made["combined"]}
        objects |= {f"segment_{i:03d}": key for i, key in enumerate(segment_keys)}
        if "preview_poster" in self._made:
            objects["preview_poster"] = self._made["preview_poster"]
        signed = await self._call(
            SIGN_OUTPUTS,
            SignOutputsInput(
                session_id=session_id,
                run=run,
                kind=manifest.kind.value,
                preset=taken.preset or "",
                seed=seed,
                steps=taken.steps or None,
                cfg=manifest.cfg,
                inputs=taken.inputs,
                renders=tuple(self._renders),
                objects=objects,
            ),
            summary="sign outputs (C2PA)",
        )
        return signed.provenance

    async def _render_checked(
        self, taken: TakenDrop, request: GenerateSegmentInput, previous_key: str | None
    ) -> SegmentOutput:
        """Render one segment and, unless its policy is ``off``, check it
        (``check_segment``): a failure is rendered again with a new seed
        (``attempt_seed``) up to ``rerender_attempts`` times under ``rerender``, kept under
        ``report``, and ends the session with ``quality_failed`` under ``fail`` or once the
        re-renders run out. The segments after it are rendered only once it is kept, so
        those that continue it never condition on a rejected one.
        """
        segment, plan = request.segment, request.plan
        gate = workflow.patched(QUALITY_PATCH) and taken.qc is not QcPolicy.OFF
        summary = f"segment {segment.index + 1}/{len(plan.segments)}"
        attempt = 0
        while True:
            seed = attempt_seed(request.seed, attempt)
            output = await self._gpu(
                GENERATE_SEGMENT,
                request.model_copy(update={"seed": seed}),
                summary=summary if attempt == 0 else f"{summary}, re-render {attempt}",
            )
            self._renders.append(
                SegmentRender(
                    index=segment.index,
                    attempt=attempt,
                    seed=seed,
                    key=output.key,
                    rendering=output.rendering,
                )
            )
            if not gate:
                return output
            report = await self._call(
                CHECK_SEGMENT,
                CheckSegmentInput(
                    session_id=request.session_id,
                    run=request.run,
                    index=segment.index,
                    segment_key=output.key,
                    previous_key=previous_key,
                    expected_frames=segment.length,
                    fps=plan.fps,
                    expect_audio=request.audio_key is not None and taken.segment_audio,
                    overlap_frames=segment.drop_leading,
                    thresholds=taken.quality,
                    attempt=attempt,
                ),
                summary=f"check segment {segment.index + 1}",
            )
            self._quality = [*(self._quality or []), report]
            if report.passed:
                return output
            self._count_quality("pipeline_quality_failures", report)
            if taken.qc is QcPolicy.REPORT:
                return output
            if taken.qc is QcPolicy.RERENDER and attempt < taken.quality.rerender_attempts:
                attempt += 1
                self._count_quality("pipeline_quality_rerenders", report)
                self._update(
                    rerenders=self._progress.rerenders + 1,
                    doing=f"re-rendering: {report.failures[0].message}",
                )
                continue
            gave_up = f" after {attempt} re-render{'s' if attempt != 1 else ''}" if attempt else ""
            raise ApplicationError(
                f"failed the quality gate{gave_up}: "
                + "; ".join(f.message for f in report.failures),
                {
                    "segment": segment.index + 1,
                    "measures": [f.measure.value for f in report.failures],
                    "attempts": attempt + 1,
                    "report": report.model_dump(mode="json"),
                },
                type=QualityFailed.code,
                non_retryable=True,
            )

    def _count_quality(self, name: str, report: QualityReport) -> None:
        """One count per failed measure, by preset and measure (Prometheus)."""
        counter = workflow.metric_meter().create_counter(
            name, "Quality checks that failed, or re-renders they caused, per measure"
        )
        for failure in report.failures:
            counter.with_additional_attributes(
                {"preset": self._progress.preset or "", "measure": failure.measure.value}
            ).add(1)

    async def _reuse_segments(
        self, request: SessionRequest, run: str, plan: FramePlan
    ) -> tuple[str, ...]:
        """A rerun from segment K on (``pipeline rerender``): segments before K copied from
        the run it starts from; nothing for any other run."""
        rerun = request.rerun
        if rerun is None or not rerun.from_segment or rerun.source_run is None:
            return ()
        reused = await self._call(
            REUSE_SEGMENTS,
            ReuseSegmentsInput(
                session_id=request.session_id,
                source_run=rerun.source_run,
                run=run,
                count=min(rerun.from_segment, len(plan.segments)),
            ),
            summary=f"keep segments 1-{rerun.from_segment} of run {rerun.source_run}",
        )
        return reused.keys

    async def _drive_audio(
        self, session_id: str, manifest: Manifest, plan: FramePlan, audio: PreparedAudio
    ) -> str:
        """The audio the model hears: the vocals (unless skipped), padded to the plan."""
        source = audio.mix_key
        if manifest.separate_vocals:
            self._set_stage("separating_vocals")
            shared = (
                separation_queue
                if workflow.patched(SEPARATION_QUEUE)
                else preset_queue  # sessions started before separation had its own queues
            )
            vocals = await self._gpu(
                SEPARATE_VOCALS,
                SeparationInput(session_id=session_id, audio_key=audio.mix_key),
                shared=shared,
            )
            source = self._made["vocals"] = vocals.vocals_key
            if vocals.gpu_s is not None:
                self._other_gpu.append(
                    GpuUse(stage=SEPARATION_STAGE, device=vocals.device, gpu_s=vocals.gpu_s)
                )
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
        self._made["drive_audio"] = padded.key
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
                detail = _detail(cause)
                missing = [str(name) for name in detail.get("missing", [])]
                folder = [str(name) for name in detail.get("folder", [])]
                self._progress = self._progress.model_copy(
                    update={"waiting_for": missing, "drop_folder": folder}
                )
                self._set_stage("waiting_for_media")
                workflow.set_current_details(describe.waiting_details(missing, folder))
            await workflow.sleep(poll)
            poll = min(poll * 2, MEDIA_POLL_MAX)
            self._progress = self._progress.model_copy(
                update={"waiting_for": [], "drop_folder": []}
            )
            self._set_stage("taking_drop")

    async def _call(
        self, spec: ActivitySpec[InputT, OutputT], argument: InputT, *, summary: str | None = None
    ) -> OutputT:
        """Run one CPU activity by its spec and add its wall time to the session's timings.

        All attempts together end at the session's deadline (at least ``LAST_WINDOW`` from
        now, so a session past it can still record its failure). ``summary`` labels the call
        in the Temporal UI (default: the stage).
        """
        started = workflow.now()
        result = await self._unless_ending(
            execute(
                spec,
                argument,
                schedule_to_close=self._window(started),
                summary=summary or self._stage_summary(),
            )
        )
        self._add_time(spec.name, started)
        self._stop_if_cancelled()
        return result

    async def _gpu(
        self,
        spec: ActivitySpec[InputT, PlacedT],
        argument: InputT,
        *,
        shared: Callable[[str, str], str] = preset_queue,
        summary: str | None = None,
    ) -> PlacedT:
        """Run a GPU activity where the session's models are loaded, else on the preset's
        ``shared`` queue (``preset_queue``, or ``separation_queue`` for the workers that
        serve the preset and can separate vocals)."""
        started = workflow.now()
        summary = summary or self._stage_summary()
        while True:
            if self._sticky_queue is not None:
                try:
                    result = await execute(
                        spec,
                        argument,
                        gpu_task_queue=self._sticky_queue,
                        sticky_timeout=self._sticky_timeout,
                        schedule_to_close=self._window(workflow.now()),
                        summary=summary,
                    )
                    break
                except ActivityError as failure:
                    if is_cancelled_exception(failure) or _is_final(failure):
                        raise
                    workflow.logger.info(
                        "%s not run by worker queue %s (%s): back to the preset's queue",
                        spec.name,
                        self._sticky_queue,
                        _code(failure),
                    )
                    self._sticky_queue = None
            queue = shared(self._gpu_queues, self._progress.preset or "")
            try:
                result = await execute(
                    spec,
                    argument,
                    gpu_task_queue=queue,
                    schedule_to_close=self._window(workflow.now()),
                    summary=summary,
                )
            except ActivityError as failure:
                if _code(failure) in REROUTE_CODES:
                    continue  # "not this worker": another one takes it from the queue
                raise
            self._sticky_queue = result.worker_task_queue
            break
        self._add_time(spec.name, started)
        self._stop_if_cancelled()
        return result

    def _stop_if_cancelled(self) -> None:
        """End the session cancelled if it was asked to while the step it awaited completed.

        A step's cancel may never reach it: a GPU activity that completes before its next
        heartbeat (or a short one that does not heartbeat) hands its result back, and the
        workflow, waiting for the cancel to complete, gets that result instead of a
        cancellation: asyncio forgets the cancel (sdk-python #620), and the session would run
        to the end. ``workflow.cancellation_reason()`` remembers it (None until Temporal
        delivers a cancel request), so every step's result is checked against it.
        """
        if self._ending or workflow.cancellation_reason() is None:
            return
        if workflow.patched(CANCEL_PATCH):
            raise asyncio.CancelledError("cancel requested while a step completed")

    async def _unless_ending(self, step: Awaitable[OutputT]) -> OutputT:
        """Await ``step``; once the session is ending (publishing ``result.json``, recording
        its failure or cancellation, the completion callback) a cancel does not interrupt it:
        the outcome is decided, the cancel comes after the end, and cancelling a write
        halfway would leave a succeeded record beside a cancelled one. Sessions started
        before ``CANCEL_PATCH`` let the cancel through, as they did."""
        if not self._ending or not workflow.patched(CANCEL_PATCH):
            return await step
        ending = asyncio.ensure_future(step)
        while True:
            try:
                return await asyncio.shield(ending)
            except asyncio.CancelledError:
                if ending.done():
                    raise

    def _window(self, now: datetime) -> timedelta:
        """What is left until the session's deadline, at least ``LAST_WINDOW``."""
        return max(self._deadline - now, LAST_WINDOW)

    def _add_time(self, name: str, started: datetime) -> None:
        elapsed = (workflow.now() - started).total_seconds()
        self._timings[name] = round(self._timings.get(name, 0.0) + elapsed, 3)
        workflow.metric_meter().create_histogram_float(
            "pipeline_stage_duration", "Seconds a stage's activity took, retries included", "s"
        ).with_additional_attributes({"activity": name}).record(elapsed)

    def _stage_summary(self) -> str:
        """An activity's label in the Temporal UI when the caller gives none: the stage."""
        return self._progress.stage.replace("_", " ")

    def _set_stage(self, stage: Stage) -> None:
        if stage != "generating":
            self._progress = self._progress.model_copy(update={"eta_s": None, "node": None})
        self._update(stage=stage)
        workflow.upsert_search_attributes([attributes.PIPELINE_STAGE.value_set(stage)])

    def _update(self, **fields: Any) -> None:
        """Change the progress and the UI's live line with it."""
        self._progress = self._progress.model_copy(update=fields)
        workflow.set_current_details(
            describe.current_details(self._progress, workflow.info().workflow_id)
        )

    async def _end_cancelled(self, request: SessionRequest) -> None:
        """Record who cancelled and why (error.json, status cancelled), keeping what was made."""
        self._ending = True
        if not workflow.patched(OPERATE_PATCH):
            return
        stage = self._progress.stage
        self._set_stage("cancelled")
        await self._call(
            RECORD_CANCELLATION,
            CancellationInput(
                session_id=request.session_id,
                workflow_id=workflow.info().workflow_id,
                stage=stage,
                reason=workflow.cancellation_reason() or "",
                kept=dict(self._made),
            ),
            summary="record cancellation",
        )
        await self._end(request, "cancelled", SessionLayout(request.session_id).error)

    async def _end(
        self,
        request: SessionRequest,
        status: Outcome,
        record_key: str,
        error_code: str | None = None,
    ) -> None:
        """Mark the outcome for visibility and hand the completion callback to its own
        workflow (``start_callback``), which outlives the session: the record is written,
        so the outcome is final, and the receiver cannot hold it."""
        if not workflow.patched(OPERATE_PATCH):
            return
        marks = [attributes.SESSION_STATUS.value_set(status)]
        if error_code is not None:
            marks.append(attributes.ERROR_CODE.value_set(error_code))
        workflow.upsert_search_attributes(marks)
        kind = self._manifest.kind.value if self._manifest else "unknown"
        workflow.metric_meter().create_counter(
            "pipeline_sessions", "Sessions ended, by kind and outcome"
        ).add(1, {"kind": kind, "outcome": status})
        info = workflow.info()
        callback = self._manifest.callback_url if self._manifest else None
        notify = NotifyInput(
            session_id=request.session_id,
            workflow_id=info.workflow_id,
            message_id=f"msg_{info.run_id}",
            status=status,
            callback_url=str(callback) if callback else None,
            record_key=record_key,
        )
        if workflow.patched(CALLBACK_CHILD):
            await start_callback(notify)
            return
        try:  # Sessions started before CALLBACK_CHILD, as they ran.
            await self._call(NOTIFY_COMPLETION, notify, summary=f"callback: {status}")
        except ActivityError as failure:
            workflow.logger.warning("completion callback given up: %s", failure.cause or failure)


def _detail(error: ApplicationError) -> dict[str, Any]:
    return error.details[0] if error.details and isinstance(error.details[0], dict) else {}


def _code(failure: ActivityError) -> str:
    """The error type an activity failed with (``timeout`` for any timeout)."""
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        return cause.type or "internal"
    return "timeout" if isinstance(cause, TimeoutError) else "internal"


def _is_final(failure: ActivityError) -> bool:
    """Whether a task's failure on its worker's own queue fails the stage instead of going
    back to the shared queue: it is not retryable (``ApplicationError.non_retryable``, set by
    the error class at the activity's edge). Sessions started before ``RETRYABLE_FLAG``
    replay the code list's answer where the two differ."""
    cause = failure.cause
    final = isinstance(cause, ApplicationError) and cause.non_retryable
    listed = _code(failure) in _LISTED_FINAL_CODES
    if final != listed and not workflow.patched(RETRYABLE_FLAG):
        return listed
    return final


def _describe_failure(
    failure: ActivityError | ApplicationError,
) -> tuple[str, str, bool, dict[str, Any]]:
    """Code, message, retryable and detail of an activity's failure, or of one the workflow
    raised itself (``quality_failed``)."""
    cause = failure.cause if isinstance(failure, ActivityError) else failure
    if isinstance(cause, ApplicationError):
        detail = _detail(cause)
        return cause.type or "internal", cause.message, not cause.non_retryable, detail
    if isinstance(cause, TimeoutError) and isinstance(failure, ActivityError):
        return (
            "timeout",
            f"{failure.activity_type} timed out ({cause.type.name if cause.type else 'unknown'})",
            True,
            {},
        )
    return "internal", str(cause or failure), True, {}
