"""GPU activities: render one segment on the ComfyUI server this worker owns.

The worker reads its ComfyUI's ``/object_info`` once at start, so every graph is
validated against what that server really offers before it is submitted: a graph the
worker would reject fails here, non-retryably, naming the node and input. The graph comes
from ``workflows_comfy.build`` for the manifest's kind; this module never branches on kinds.
"""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from typing import Any

from temporalio import activity

from activities.edge import edge
from pipeline.comfy.client import ComfyClient, RunResult
from pipeline.comfy.watch import Progress
from pipeline.config import Settings
from pipeline.domain.contracts import GenerateSegmentInput, SegmentOutput
from pipeline.domain.errors import ExecutionFailed, OutOfMemory, WorkerUnavailable
from pipeline.domain.layout import SessionLayout
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import GENERATE_SEGMENT
from workflows_comfy.build import SegmentGraphRequest, build_graph
from workflows_comfy.presets import preset_for
from workflows_comfy.servable import servable
from workflows_comfy.validate import validate_graph

log = get_logger()

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv")


class ComfyActivities:
    def __init__(self, store: ObjectStore, settings: Settings, object_info: dict[str, Any]) -> None:
        self.store = store
        self.settings = settings
        self.object_info = object_info

    @classmethod
    async def connect(cls, store: ObjectStore, settings: Settings) -> ComfyActivities:
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
        return cls(store, settings, object_info)

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
            result = await self._run(comfy, graph, segment.index)
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

    async def _run(self, comfy: ComfyClient, graph: dict[str, Any], segment: int) -> RunResult:
        """Run ``graph``; after running out of memory, free ComfyUI's memory and try once more."""

        async def heartbeat(progress: Progress) -> None:
            activity.heartbeat(
                {
                    "segment": segment,
                    "node": progress.node,
                    "class_type": progress.class_type,
                    "value": progress.value,
                    "max": progress.max,
                }
            )

        timeout = self.settings.comfyui_timeout_s
        try:
            try:
                return await comfy.run(graph, on_progress=heartbeat, timeout=timeout)
            except OutOfMemory as oom:
                # Models and caches of earlier prompts may be what filled the GPU; a second
                # out-of-memory leaves the retry to Temporal (OutOfMemory is retryable).
                log.warning("segment_out_of_memory", segment=segment, error=oom.message)
                await comfy.free()
                return await comfy.run(graph, on_progress=heartbeat, timeout=timeout)
        except asyncio.CancelledError:
            # This worker owns its ComfyUI and runs one prompt at a time, so whatever
            # is executing there is this segment: stop the GPU instead of finishing.
            await comfy.interrupt()
            log.info("segment_interrupted", segment=segment)
            raise


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
