"""GPU activities: render one segment on the ComfyUI server this worker owns.

The worker reads its ComfyUI's ``/object_info`` once at start, so every graph is
validated against what that server really offers before it is submitted: a graph the
worker would reject fails here, non-retryably, naming the node and input.
"""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from typing import Any

import structlog
from temporalio import activity

from activities.edge import edge
from activities.session import preset_for
from pipeline.comfy.client import ComfyClient
from pipeline.comfy.watch import Progress
from pipeline.config import Settings
from pipeline.contracts import ActivityName, GenerateSegmentInput, SegmentOutput
from pipeline.errors import ExecutionFailed, WorkerUnavailable
from pipeline.layout import SessionLayout
from pipeline.storage import ObjectStore
from workflows_comfy.i2v import I2VParams, build_i2v
from workflows_comfy.presets import PRESETS
from workflows_comfy.validate import validate_graph

log: Any = structlog.get_logger()

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv")


class ComfyActivities:
    def __init__(self, store: ObjectStore, settings: Settings, object_info: dict[str, Any]) -> None:
        self.store = store
        self.settings = settings
        self.object_info = object_info

    @classmethod
    async def connect(cls, store: ObjectStore, settings: Settings) -> ComfyActivities:
        """Read the worker's ComfyUI ``/object_info`` and report what it can serve."""
        async with ComfyClient(settings.comfy_url) as comfy:
            object_info = await comfy.object_info()
        servable = servable_presets(object_info)
        log.info("comfyui_ready", url=settings.comfy_url, nodes=len(object_info), presets=servable)
        if not servable:
            raise WorkerUnavailable(
                f"ComfyUI at {settings.comfy_url} lacks the nodes or models of every preset"
            )
        return cls(store, settings, object_info)

    @activity.defn(name=ActivityName.GENERATE_SEGMENT)
    @edge
    async def generate_segment(self, request: GenerateSegmentInput) -> SegmentOutput:
        manifest, segment = request.manifest, request.segment
        layout = SessionLayout(request.session_id)
        run = request.run
        condition = await self.store.get_bytes(request.conditioning_key)
        if condition is None:
            raise ExecutionFailed(f"conditioning image {request.conditioning_key} is missing")
        async with ComfyClient(self.settings.comfy_url) as comfy:
            suffix = PurePosixPath(request.conditioning_key).suffix
            image_name = await comfy.upload(
                f"{request.session_id}_{run}_{segment.index:03d}{suffix}", condition
            )
            graph = build_i2v(
                I2VParams(
                    image_name=image_name,
                    prompt=manifest.prompt,
                    negative_prompt=manifest.negative_prompt,
                    width=manifest.width,
                    height=manifest.height,
                    length=segment.length,
                    fps=float(request.plan.fps),
                    seed=request.seed,
                    steps=manifest.steps,
                    cfg=manifest.cfg,
                    preset=preset_for(manifest).name,
                    filename_prefix=f"video/{request.session_id}_{segment.index:03d}",
                )
            )
            validate_graph(graph, self.object_info).raise_for_problems()

            async def heartbeat(progress: Progress) -> None:
                activity.heartbeat(
                    {
                        "segment": segment.index,
                        "node": progress.node,
                        "class_type": progress.class_type,
                        "value": progress.value,
                        "max": progress.max,
                    }
                )

            try:
                result = await comfy.run(
                    graph, on_progress=heartbeat, timeout=self.settings.comfyui_timeout_s
                )
            except asyncio.CancelledError:
                # This worker owns its ComfyUI and runs one prompt at a time, so whatever
                # is executing there is this segment: stop the GPU instead of finishing.
                await comfy.interrupt()
                log.info("segment_interrupted", segment=segment.index)
                raise
            videos = [o for o in result.outputs if o.filename.endswith(VIDEO_SUFFIXES)]
            if not videos:
                raise ExecutionFailed(
                    f"ComfyUI finished prompt {result.prompt_id} without a video output"
                )
            key = layout.segment(run, segment.index)
            await self.store.upload_stream(key, comfy.download(videos[0]), "video/mp4")
        log.info(
            "segment_generated",
            segment=segment.index,
            frames=segment.length,
            prompt_id=result.prompt_id,
        )
        return SegmentOutput(key=key, frames=segment.length, prompt_id=result.prompt_id)


def servable_presets(object_info: dict[str, Any]) -> list[str]:
    """Presets whose graph this ComfyUI accepts (nodes present, model files offered)."""
    servable = []
    for name, preset in sorted(PRESETS.items()):
        probe = (
            build_i2v(
                I2VParams(
                    image_name="probe.png",
                    prompt="",
                    width=832,
                    height=480,
                    length=81,
                    seed=0,
                    preset=name,
                )
            )
            if preset.kind == "i2v"
            else None
        )
        if probe is not None and validate_graph(probe, object_info).ok:
            servable.append(name)
    return servable
