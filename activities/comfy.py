"""GPU activities: render one segment on the ComfyUI server this worker owns.

The worker reads its ComfyUI's ``/object_info`` once at start, so every graph is
validated against what that server really offers before it is submitted: a graph the
worker would reject fails here, non-retryably, naming the node and input. The graph comes
from ``workflows_comfy.build`` for the manifest's kind; this module never branches on kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import Any

from temporalio import activity
from temporalio.client import Client

from activities.edge import edge
from pipeline.comfy.client import ComfyClient, RunResult
from pipeline.comfy.steps import SegmentSteps
from pipeline.comfy.watch import Progress
from pipeline.config import Settings
from pipeline.domain.contracts import (
    GenerateSegmentInput,
    SegmentOutput,
    SegmentProgress,
    SignalName,
)
from pipeline.domain.errors import ExecutionFailed, OutOfMemory, WorkerUnavailable
from pipeline.domain.layout import SessionLayout
from pipeline.ingest.summary import sampling_steps
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import GENERATE_SEGMENT
from workflows_comfy.build import SegmentGraphRequest, build_graph
from workflows_comfy.presets import preset_for
from workflows_comfy.servable import servable
from workflows_comfy.validate import validate_graph

log = get_logger()

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv")
BEAT_S = 1.0
"""How often a segment heartbeats (so a cancel reaches it within about a second, with the
worker's heartbeat throttle at most this) and tells its session of new progress."""


class ComfyActivities:
    def __init__(
        self,
        store: ObjectStore,
        settings: Settings,
        object_info: dict[str, Any],
        client: Client | None = None,
    ) -> None:
        """``client``, when given, carries ``report_progress`` signals to the session."""
        self.store = store
        self.settings = settings
        self.object_info = object_info
        self.client = client

    @classmethod
    async def connect(
        cls, store: ObjectStore, settings: Settings, client: Client | None = None
    ) -> ComfyActivities:
        """Read the worker's ComfyUI ``/object_info`` and report what it can serve.

        ComfyUI takes a while to load its node packs after its container starts, so an
        unreachable server is waited for (with backoff) up to ``COMFYUI_START_TIMEOUT_S``.
        """
        object_info = await _object_info_when_up(settings)
        serving = servable(object_info)
        log.info("comfyui_ready", url=settings.comfy_url, nodes=len(object_info), serving=serving)
        if not serving:
            raise WorkerUnavailable(
                f"ComfyUI at {settings.comfy_url} lacks the nodes or models of every preset"
            )
        return cls(store, settings, object_info, client)

    @activity.defn(name=GENERATE_SEGMENT.name)
    @edge
    async def generate_segment(self, request: GenerateSegmentInput) -> SegmentOutput:
        manifest, segment, plan = request.manifest, request.segment, request.plan
        stem = f"{request.session_id}_{request.run}_{segment.index:03d}"
        async with ComfyClient(self.settings.comfy_url) as comfy:
            image_name = await self._upload(comfy, request.conditioning_key, stem)
            audio_name = (
                await self._upload(comfy, request.audio_key, f"{stem}_audio")
                if request.audio_key is not None
                else None
            )
            previous_name = (
                await self._upload(comfy, request.previous_key, f"{stem}_previous")
                if request.previous_key is not None
                else None
            )
            graph = build_graph(
                manifest.kind,
                SegmentGraphRequest(
                    image_name=image_name,
                    audio_name=audio_name,
                    prompt=manifest.prompt,
                    negative_prompt=manifest.negative_prompt,
                    width=manifest.width,
                    height=manifest.height,
                    fps=float(plan.fps),
                    length=segment.length,
                    windows=plan.windows,
                    segment_index=segment.index,
                    previous_video_name=previous_name,
                    seed=request.seed,
                    steps=manifest.steps,
                    cfg=manifest.cfg,
                    preset=preset_for(manifest).name,
                    filename_prefix=f"video/{request.session_id}_{segment.index:03d}",
                ),
            )
            validate_graph(graph, self.object_info).raise_for_problems()
            steps = SegmentSteps(segment.index, sampling_steps(manifest), self._identity())
            async with self._reporting(steps):
                result = await self._run(comfy, graph, steps)
            videos = [o for o in result.outputs if o.filename.endswith(VIDEO_SUFFIXES)]
            if not videos:
                raise ExecutionFailed(
                    f"ComfyUI finished prompt {result.prompt_id} without a video output"
                )
            key = SessionLayout(request.session_id).segment(request.run, segment.index)
            await self.store.upload_stream(key, comfy.download(videos[0]), "video/mp4")
        log.info(
            "segment_generated",
            segment=segment.index,
            frames=segment.length,
            prompt_id=result.prompt_id,
        )
        return SegmentOutput(key=key, frames=segment.length, prompt_id=result.prompt_id)

    async def _upload(self, comfy: ComfyClient, key: str, stem: str) -> str:
        """Stream an input from the bucket into ComfyUI's input folder; the name it got."""
        if await self.store.head(key) is None:
            raise ExecutionFailed(f"segment input {key} is missing from the bucket")
        return await comfy.upload(f"{stem}{PurePosixPath(key).suffix}", self.store.stream(key))

    async def _run(
        self, comfy: ComfyClient, graph: dict[str, Any], steps: SegmentSteps
    ) -> RunResult:
        """Run ``graph``; after running out of memory, free ComfyUI's memory and try once more.

        Cancelled (the session was cancelled), ``ComfyClient.run`` interrupts its prompt.
        """

        submitted = time.monotonic()
        waited: list[float] = []

        async def track(progress: Progress) -> None:
            now = time.monotonic()
            if not waited:  # The first node started: the prompt left ComfyUI's queue.
                waited.append(now - submitted)
                activity.metric_meter().create_histogram_float(
                    "pipeline_comfy_queue_wait", "Seconds from submit to first node", "s"
                ).record(waited[0])
            activity.heartbeat(steps.update(progress, now).model_dump(mode="json"))

        timeout = self.settings.comfyui_timeout_s
        try:
            try:
                return await comfy.run(graph, on_progress=track, timeout=timeout)
            except OutOfMemory as oom:
                # Models and caches of earlier prompts may be what filled the GPU; a second
                # out-of-memory leaves the retry to Temporal (OutOfMemory is retryable).
                log.warning("segment_out_of_memory", segment=steps.segment, error=oom.message)
                await comfy.free()
                return await comfy.run(graph, on_progress=track, timeout=timeout)
        except asyncio.CancelledError:
            log.info("segment_interrupted", segment=steps.segment)
            raise

    @contextlib.asynccontextmanager
    async def _reporting(self, steps: SegmentSteps) -> AsyncIterator[None]:
        """Every progress update heartbeats (in ``_run``); this also heartbeats when ComfyUI
        has been silent for ``BEAT_S`` (a model load, a hung node: Temporal delivers a cancel
        only in a heartbeat's answer), and signals the session whenever progress changed."""

        async def beat() -> None:
            sent: SegmentProgress | None = None
            while True:
                report = steps.report()
                if time.monotonic() - steps.updated_at >= BEAT_S:
                    activity.heartbeat(report.model_dump(mode="json"))
                if report != sent:
                    await self._signal(report)
                    sent = report
                await asyncio.sleep(BEAT_S)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _signal(self, report: SegmentProgress) -> None:
        """Tell the session; progress is a courtesy, so a failed signal is only logged."""
        workflow_id = activity.info().workflow_id
        if self.client is None or workflow_id is None:
            return
        try:
            await self.client.get_workflow_handle(workflow_id).signal(
                SignalName.REPORT_PROGRESS, report
            )
        except Exception as exc:  # Whatever went wrong, the segment goes on.
            log.warning("progress_signal_failed", error=repr(exc))

    def _identity(self) -> str:
        return self.client.identity if self.client is not None else ""


async def _object_info_when_up(settings: Settings) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + settings.comfyui_start_timeout_s
    delay = 0.5
    while True:
        try:
            async with ComfyClient(settings.comfy_url) as comfy:
                return await comfy.object_info()
        except WorkerUnavailable as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            log.info(
                "comfyui_not_ready", url=settings.comfy_url, error=exc.message, retry_in_s=delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
