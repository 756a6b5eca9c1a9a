"""Stub activities for ``SessionWorkflow`` (and ``ReprocessWorkflow``) tests on the dev server.

The stubs register under the real activity names (``pipeline.workflows.specs``), the way
temporalio's samples test workflows: no object store, ffmpeg, ComfyUI or torch. They answer
with keys under the session's layout and a real frame plan, record every call (name, task
queue, attempt), and raise the pipeline's own errors through the real activity edge, so
codes and retryability arrive as in production.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from activities.edge import edge
from pipeline.domain.contracts import (
    CancellationInput,
    CheckSegmentInput,
    ExtractedFrames,
    ExtractFramesInput,
    FailureInput,
    FailureRecorded,
    GenerateSegmentInput,
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
    SegmentOutput,
    SeparationInput,
    SeparationOutput,
    SignedOutputs,
    SignOutputsInput,
    StitchInput,
    StitchOutput,
    TakeDropInput,
    TakenDrop,
)
from pipeline.domain.errors import PipelineError
from pipeline.domain.frames.plan import FramePlan, plan_for
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Manifest, parse_manifest
from pipeline.domain.previews import (
    RunPreviews,
    RunPreviewsInput,
    SegmentPreview,
    SegmentPreviewInput,
)
from pipeline.domain.quality import Failure, Measure, QualityReport, SegmentQuality
from pipeline.workflows import specs
from workflows_comfy import presets
from workflows_comfy.bound import BoundGraphPreset

AUDIO_S = 3.0
"""Seconds of audio the stubs' ``prepare_audio`` and ``separate_vocals`` report."""


@dataclass
class Call:
    """One activity attempt the stubs ran: its name, task queue and attempt number."""

    name: str
    task_queue: str
    attempt: int


@dataclass
class Stubs:
    """Activities under the real names. ``failures[name]`` are raised on the first attempts,
    in order; ``hold_segments`` makes ``generate_segment`` wait until it is cancelled."""

    manifest: Manifest
    failures: dict[str, list[PipelineError]] = field(default_factory=dict)
    hold_segments: bool = False
    audio_s: float = AUDIO_S
    worker_task_queue: str | None = None
    """What GPU stubs answer as the queue of the worker that ran them (sticky sessions)."""
    black_renders: dict[int, int] = field(default_factory=dict)
    """Segment index → how many of its first renders ``check_segment`` finds all black."""
    finish_when: asyncio.Event | None = None
    """When set, ``generate_segment`` waits for it without heartbeating, then completes: a
    segment that finishes just as the session is cancelled (sdk-python #620), as its cancel
    never reaches it."""
    publish_when: asyncio.Event | None = None
    """When set, ``publish_result`` signals ``publishing`` and waits for it to complete."""
    publishing: asyncio.Event = field(default_factory=asyncio.Event)
    calls: list[Call] = field(default_factory=list)
    segments: list[GenerateSegmentInput] = field(default_factory=list)
    checks: list[CheckSegmentInput] = field(default_factory=list)
    takes: list[TakeDropInput] = field(default_factory=list)
    recorded: list[FailureInput] = field(default_factory=list)
    cancellations: list[CancellationInput] = field(default_factory=list)
    notified: list[NotifyInput] = field(default_factory=list)
    segment_started: asyncio.Event = field(default_factory=asyncio.Event)
    segment_cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    def _enter(self, spec: specs.ActivitySpec[Any, Any]) -> None:
        info = activity.info()
        self.calls.append(Call(spec.name, info.task_queue, info.attempt))
        pending = self.failures.get(spec.name)
        if pending:
            raise pending.pop(0)

    def names(self) -> list[str]:
        """Activity names in call order, each retried call once."""
        return [call.name for call in self.calls if call.attempt == 1]

    def taken(self, session_id: str) -> TakenDrop:
        """The stub manifest as ``take_drop`` hands it on: inputs under the session's layout."""
        layout = SessionLayout(session_id)
        inputs = {role: layout.input(relative) for role, relative in self.manifest.media().items()}
        return TakenDrop(
            manifest=self.manifest,
            inputs=inputs,
            preset=presets.preset_name(self.manifest),
            steps=presets.sampling_steps(self.manifest),
            qc=presets.qc_policy(self.manifest),
            quality=presets.preset_for(self.manifest).quality,
            segment_audio=not isinstance(presets.preset_for(self.manifest), BoundGraphPreset),
        )

    @activity.defn(name=specs.TAKE_DROP.name)
    @edge
    async def take_drop(self, request: TakeDropInput) -> TakenDrop:
        self.takes.append(request)
        self._enter(specs.TAKE_DROP)
        return self.taken(request.session_id)

    @activity.defn(name=specs.PREPARE_IMAGE.name)
    @edge
    async def prepare_image(self, request: PrepareImageInput) -> PreparedImage:
        self._enter(specs.PREPARE_IMAGE)
        key = SessionLayout(request.session_id).prepared_image
        return PreparedImage(key=key, source_format="PNG", source_width=64, source_height=36)

    @activity.defn(name=specs.PREPARE_AUDIO.name)
    @edge
    async def prepare_audio(self, request: PrepareAudioInput) -> PreparedAudio:
        self._enter(specs.PREPARE_AUDIO)
        key = SessionLayout(request.session_id).prepared_audio
        return PreparedAudio(mix_key=key, duration_s=self.audio_s)

    @activity.defn(name=specs.PLAN_FRAMES.name)
    @edge
    async def plan_frames(self, request: PlanInput) -> FramePlan:
        self._enter(specs.PLAN_FRAMES)
        return plan_for(request.manifest, request.audio_s)

    @activity.defn(name=specs.SEPARATE_VOCALS.name)
    @edge
    async def separate_vocals(self, request: SeparationInput) -> SeparationOutput:
        self._enter(specs.SEPARATE_VOCALS)
        key = SessionLayout(request.session_id).vocals
        return SeparationOutput(
            vocals_key=key,
            sample_rate=44100,
            duration_s=AUDIO_S,
            device="cpu",
            worker_task_queue=self.worker_task_queue,
        )

    @activity.defn(name=specs.PAD_AUDIO.name)
    @edge
    async def pad_audio(self, request: PadAudioInput) -> PaddedAudio:
        self._enter(specs.PAD_AUDIO)
        return PaddedAudio(key=SessionLayout(request.session_id).drive_audio)

    @activity.defn(name=specs.GENERATE_SEGMENT.name)
    @edge
    async def generate_segment(self, request: GenerateSegmentInput) -> SegmentOutput:
        self._enter(specs.GENERATE_SEGMENT)
        self.segments.append(request)
        if self.hold_segments:
            self.segment_started.set()
            try:
                while True:
                    activity.heartbeat()
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.segment_cancelled.set()
                raise
        if self.finish_when is not None:
            self.segment_started.set()
            await self.finish_when.wait()
        key = SessionLayout(request.session_id).segment(request.run, request.segment.index)
        return SegmentOutput(
            key=key,
            frames=request.segment.length,
            prompt_id=f"prompt-{request.seed}",
            worker_task_queue=self.worker_task_queue,
        )

    @activity.defn(name=specs.CHECK_SEGMENT.name)
    @edge
    async def check_segment(self, request: CheckSegmentInput) -> QualityReport:
        self._enter(specs.CHECK_SEGMENT)
        self.checks.append(request)
        black = request.attempt < self.black_renders.get(request.index, 0)
        figures = SegmentQuality(
            index=request.index,
            decodable=True,
            frames=request.expected_frames,
            expected_frames=request.expected_frames,
            fps=request.fps,
            black_frames=request.expected_frames if black else 0,
            black_ratio=1.0 if black else 0.0,
            expected_duration_s=request.expected_frames / request.fps,
        )
        failures = (
            (Failure(measure=Measure.BLACK, value=1.0, threshold=0.05, message="all black"),)
            if black
            else ()
        )
        return QualityReport(
            segment=figures, failures=failures, passed=not black, attempt=request.attempt
        )

    @activity.defn(name=specs.MAKE_SEGMENT_PREVIEW.name)
    @edge
    async def make_segment_preview(self, request: SegmentPreviewInput) -> SegmentPreview:
        self._enter(specs.MAKE_SEGMENT_PREVIEW)
        layout = SessionLayout(request.session_id)
        return SegmentPreview(key=layout.preview_segment(request.run, request.index), bytes=1)

    @activity.defn(name=specs.MAKE_RUN_PREVIEWS.name)
    @edge
    async def make_run_previews(self, request: RunPreviewsInput) -> RunPreviews:
        self._enter(specs.MAKE_RUN_PREVIEWS)
        layout = SessionLayout(request.session_id)
        return RunPreviews(
            poster_key=layout.preview_poster(request.run),
            contact_sheet_key=layout.preview_contact_sheet(request.run),
            poster_frame=0,
        )

    @activity.defn(name=specs.SIGN_OUTPUTS.name)
    @edge
    async def sign_outputs(self, request: SignOutputsInput) -> SignedOutputs:
        self._enter(specs.SIGN_OUTPUTS)
        return SignedOutputs(provenance=None)

    @activity.defn(name=specs.EXTRACT_LAST_FRAMES.name)
    @edge
    async def extract_last_frames(self, request: ExtractFramesInput) -> ExtractedFrames:
        self._enter(specs.EXTRACT_LAST_FRAMES)
        return ExtractedFrames(key=request.output_key)

    @activity.defn(name=specs.STITCH.name)
    @edge
    async def stitch(self, request: StitchInput) -> StitchOutput:
        self._enter(specs.STITCH)
        return StitchOutput(
            key=SessionLayout(request.session_id).combined(request.run),
            frames=request.plan.final_frames,
            duration_s=request.plan.duration_s,
        )

    @activity.defn(name=specs.PUBLISH_RESULT.name)
    @edge
    async def publish_result(self, request: PublishInput) -> PublishOutput:
        self._enter(specs.PUBLISH_RESULT)
        if self.publish_when is not None:
            self.publishing.set()
            await self.publish_when.wait()
        result_key = SessionLayout(request.session_id).result
        return PublishOutput(result_key=result_key, urls={"combined": "http://example/c.mp4"})

    @activity.defn(name=specs.RECORD_FAILURE.name)
    @edge
    async def record_failure(self, request: FailureInput) -> FailureRecorded:
        self._enter(specs.RECORD_FAILURE)
        self.recorded.append(request)
        return FailureRecorded(key=SessionLayout(request.session_id).error)

    @activity.defn(name=specs.RECORD_CANCELLATION.name)
    @edge
    async def record_cancellation(self, request: CancellationInput) -> FailureRecorded:
        self._enter(specs.RECORD_CANCELLATION)
        self.cancellations.append(request)
        return FailureRecorded(key=SessionLayout(request.session_id).error)

    @activity.defn(name=specs.NOTIFY_COMPLETION.name)
    @edge
    async def notify_completion(self, request: NotifyInput) -> NotifyOutput:
        self._enter(specs.NOTIFY_COMPLETION)
        self.notified.append(request)
        return NotifyOutput(delivered=True, status_code=200)

    def for_queue(self, queue: specs.QueueKind) -> list[Callable[..., Any]]:
        methods: list[Callable[..., Any]] = [
            self.take_drop,
            self.prepare_image,
            self.prepare_audio,
            self.plan_frames,
            self.separate_vocals,
            self.pad_audio,
            self.generate_segment,
            self.check_segment,
            self.make_segment_preview,
            self.extract_last_frames,
            self.stitch,
            self.make_run_previews,
            self.sign_outputs,
            self.publish_result,
            self.record_failure,
            self.record_cancellation,
            self.notify_completion,
        ]
        queues: dict[str | None, specs.QueueKind] = {spec.name: spec.queue for spec in specs.ALL}
        return [
            method
            for method in methods
            if queues[activity._Definition.must_from_callable(method).name] is queue
        ]


def manifest(**fields: object) -> Manifest:
    """``fields`` parsed as a drop's ``manifest.json`` would be (``ManifestError`` if invalid)."""
    return parse_manifest(json.dumps(fields).encode())
