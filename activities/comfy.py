"""GPU activities: render one segment on the ComfyUI server this worker owns.

Every graph is validated against what the server offers (``Capabilities``, from its
``/object_info``) before it is submitted. When it fails, the worker re-reads
``/object_info``: if the preset's nodes or models are gone from this server the task is
handed back (``PresetUnavailable``, retryable on a worker that has them) and the worker
stops polling that preset's queue; only a graph the server would reject although it has
everything the preset needs is a non-retryable ``GraphError``. The graph comes from
``workflows_comfy.build`` for the manifest's kind; this module never branches on kinds.

Segments hand over without an encode in between: a segment with a successor also saves its
last frames as PNGs (``workflows_comfy.build.handoff_frames``), which are joined into one
file (``pipeline.media.frames.join_frames``) under the key the next segment reads. An I2V
segment's goes to ``SessionLayout.segment_last_frame``, the extension's start image (the
session's frame extraction keeps it); an InfiniteTalk window's (or a long S2V clip's
segment's) to ``SessionLayout.segment_motion_frames``, which the next window loads instead
of the previous window's MP4 whenever it is there.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import PurePosixPath
from typing import Any

from PIL import Image
from temporalio import activity
from temporalio.client import Client

from activities.edge import edge
from activities.heartbeat import Heartbeat, heartbeating
from activities.scratch import scratch_dir
from pipeline.comfy.client import ComfyClient, RunResult
from pipeline.comfy.steps import SegmentSteps, graph_steps
from pipeline.comfy.system import ServerInfo
from pipeline.comfy.watch import Event, Progress
from pipeline.config import Settings
from pipeline.domain.contracts import (
    GenerateSegmentInput,
    SegmentOutput,
    SegmentProgress,
    SignalName,
)
from pipeline.domain.errors import (
    ExecutionFailed,
    GraphError,
    OutOfMemory,
    PresetUnavailable,
    WorkerUnavailable,
)
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Kind
from pipeline.domain.rendering import Rendering
from pipeline.fleet.admission import Admission, GpuTurn, SessionRun
from pipeline.fleet.capabilities import Capabilities
from pipeline.logging import get_logger
from pipeline.media.frames import join_frames
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import GENERATE_SEGMENT
from workflows_comfy.build import SegmentGraphRequest, build_graph, handoff_frames, output_node
from workflows_comfy.graph import graph_sha256, handoff_node
from workflows_comfy.presets import PRESETS, preset_for, sampling_steps
from workflows_comfy.servable import probe_graph
from workflows_comfy.validate import validate_graph

log = get_logger()

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv")
BEAT_S = 1.0
"""A segment heartbeats at least this often (``GPU_HEARTBEAT_S`` when lower) and tells its
session of new progress in the same loop: with the GPU worker's heartbeat throttle at most
this, a cancel reaches a hung or loading segment within about a second."""


class ComfyActivities:
    def __init__(
        self,
        store: ObjectStore,
        settings: Settings,
        admission: Admission,
        capabilities: Capabilities,
        client: Client | None = None,
    ) -> None:
        """``client``, when given, carries ``report_progress`` signals to the session."""
        self.store = store
        self.settings = settings
        self.admission = admission
        self.capabilities = capabilities
        self.client = client

    @classmethod
    async def connect(
        cls,
        store: ObjectStore,
        settings: Settings,
        admission: Admission,
        client: Client | None = None,
    ) -> ComfyActivities:
        """Read the worker's ComfyUI ``/object_info`` and report what it can serve.

        ComfyUI takes a while to load its node packs after its container starts, so an
        unreachable server is waited for (with backoff) up to ``COMFYUI_START_TIMEOUT_S``.
        A server that can run no preset is kept (models may still be syncing): the worker
        then polls no preset queue, and says per preset what the server lacks.
        """
        object_info, server = await _server_when_up(settings)
        capabilities = Capabilities(settings.comfy_url, admission, object_info, server)
        await admission.set_serving(capabilities.presets)
        log.info(
            "comfyui_ready",
            url=settings.comfy_url,
            comfyui=server.describe(),
            nodes=len(object_info),
            serving=capabilities.serving,
        )
        for name, found in capabilities.missing.items():
            log_missing = log.error if not capabilities.serving else log.warning
            log_missing("preset_not_served", preset=name, missing=found.describe())
        return cls(store, settings, admission, capabilities, client)

    async def warm_up(self, preset: str) -> None:
        """Run ``preset``'s probe graph once, so the first session finds its models loaded."""
        kind = Kind(PRESETS[preset].kind)
        async with self._comfy() as comfy:
            await comfy.upload("probe.png", _probe_png())
            await comfy.upload("probe.wav", _probe_wav())
            result = await comfy.run(
                probe_graph(kind, preset), timeout=self.settings.comfyui_timeout_s
            )
        log.info("worker_warmed_up", preset=preset, prompt_id=result.prompt_id)

    @activity.defn(name=GENERATE_SEGMENT.name)
    @edge
    async def generate_segment(self, request: GenerateSegmentInput) -> SegmentOutput:
        segment = request.segment
        steps = SegmentSteps(segment.index, sampling_steps(request.manifest), self._identity())
        async with (
            heartbeating(
                min(BEAT_S, self.settings.gpu_heartbeat_s),
                on_tick=self._reporter(steps),
                segment=segment.index,
                stage="starting",
            ) as beat,
            self.admission.task(
                activity.info().task_queue,
                SessionRun(
                    activity.info().workflow_id or request.session_id,
                    activity.info().workflow_run_id,
                ),
                more_to_come=segment.index + 1 < len(request.plan.segments),
                task_token=activity.info().task_token,
            ) as turn,
        ):
            try:
                output = await self._generate(request, beat, turn, steps)
            except WorkerUnavailable:
                # ComfyUI stopped answering: take no more tasks until it answers again.
                await self.admission.set_ready(False)
                raise
        return output

    async def _generate(
        self, request: GenerateSegmentInput, beat: Heartbeat, turn: GpuTurn, steps: SegmentSteps
    ) -> SegmentOutput:
        manifest, segment, plan = request.manifest, request.segment, request.plan
        preset = preset_for(manifest).name
        if preset not in self.capabilities.presets:
            raise self._unavailable(preset)
        beat.update(stage="uploading")
        layout = SessionLayout(request.session_id)
        stem = f"{request.session_id}_{request.run}_{segment.index:03d}"
        async with self._comfy() as comfy:
            image_name = await self._upload(comfy, request.conditioning_key, stem)
            audio_name = (
                await self._upload(comfy, request.audio_key, f"{stem}_audio")
                if request.audio_key is not None
                else None
            )
            previous_name = previous_frames_name = None
            if request.previous_key is not None:
                saved = layout.segment_motion_frames(request.run, segment.index - 1)
                if await self.store.head(saved) is not None:
                    previous_frames_name = await self._upload(comfy, saved, f"{stem}_previous")
                else:  # The previous window saved no frames: continue its video.
                    previous_name = await self._upload(
                        comfy, request.previous_key, f"{stem}_previous"
                    )
            handoff = handoff_frames(plan, segment.index, preset)
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
                    previous_frames_name=previous_frames_name,
                    handoff_frames=handoff,
                    seed=request.seed,
                    steps=manifest.steps,
                    cfg=manifest.cfg,
                    preset=preset,
                    filename_prefix=f"video/{request.session_id}_{segment.index:03d}",
                ),
            )
            steps.steps_hint = graph_steps(graph) or steps.steps_hint
            beat.update(stage="waiting_for_gpu")
            try:
                validate_graph(graph, self.capabilities.object_info).raise_for_problems()
                async with turn.gpu():
                    started = time.monotonic()
                    beat.update(stage="rendering", **steps.report().model_dump(mode="json"))
                    result = await self._run(comfy, graph, beat, steps)
                    gpu_s = time.monotonic() - started
            except GraphError:
                # Refused here or by ComfyUI: if the server lost the preset's nodes or
                # models since they were read, another worker can run it.
                await self.capabilities.refresh()
                if preset not in self.capabilities.presets:
                    raise self._unavailable(preset) from None
                raise
            saver = output_node(preset)
            videos = [
                o
                for o in result.outputs
                if o.filename.endswith(VIDEO_SUFFIXES) and saver in (None, o.node_id)
            ]
            if not videos:
                raise ExecutionFailed(
                    f"ComfyUI finished prompt {result.prompt_id} without a video output"
                    + (f" from node {saver}" if saver else "")
                )
            beat.update(stage="downloading")
            key = layout.segment(request.run, segment.index)
            await self.store.upload_stream(key, comfy.download(videos[0]), "video/mp4")
            if handoff:
                target = (
                    layout.segment_motion_frames(request.run, segment.index)
                    if plan.continuation == "previous_segment"
                    else layout.segment_last_frame(request.run, segment.index)
                )
                await self._keep_handoff(comfy, result, graph, handoff, target)
        log.info(
            "segment_generated",
            segment=segment.index,
            frames=segment.length,
            prompt_id=result.prompt_id,
        )
        return SegmentOutput(
            key=key,
            frames=segment.length,
            prompt_id=result.prompt_id,
            worker_task_queue=self.admission.worker_task_queue,
            rendering=Rendering(
                graph_sha256=graph_sha256(graph),
                comfyui_version=self.capabilities.server.version,
                device=next(iter(self.capabilities.server.devices), "unknown"),
                worker=self._identity() or activity.info().task_queue,
                gpu_s=round(gpu_s, 3),
                execution_s=result.execution_s,
            ),
        )

    def _comfy(self) -> ComfyClient:
        """A client of this worker's ComfyUI, polling and pinging as the settings say."""
        return ComfyClient(
            self.settings.comfy_url,
            poll_interval=self.settings.comfyui_poll_s,
            ws_ping_s=self.settings.comfyui_ws_ping_s,
        )

    async def _keep_handoff(
        self, comfy: ComfyClient, result: RunResult, graph: dict[str, Any], count: int, key: str
    ) -> None:
        """Store the ``count`` frames the prompt saved for the next segment as one PNG at
        ``key``; fewer or more than asked for is an ``ExecutionFailed``."""
        saver = handoff_node(graph)
        frames = [o for o in result.outputs if o.node_id == saver and o.filename.endswith(".png")]
        if len(frames) != count:
            raise ExecutionFailed(
                f"ComfyUI prompt {result.prompt_id} saved {len(frames)} hand-off frame(s), "
                f"not {count}",
                detail={"prompt_id": result.prompt_id, "saved": len(frames), "asked": count},
            )
        with scratch_dir(self.settings.work_dir, "activity-") as scratch:
            paths = []
            for index, frame in enumerate(frames):
                path = scratch / f"frame_{index:03d}.png"
                with path.open("wb") as out:
                    async for chunk in comfy.download(frame):
                        out.write(chunk)
                paths.append(path)
            joined = await asyncio.to_thread(join_frames, paths, scratch / "handoff.png")
            await self.store.upload(joined, key, "image/png")

    def _unavailable(self, preset: str) -> PresetUnavailable:
        lacking = self.capabilities.missing.get(preset)
        return PresetUnavailable(
            f"this worker's ComfyUI ({self.settings.comfy_url}) cannot run preset {preset!r}"
            + (f": missing {lacking.describe()}" if lacking else ""),
            detail={"preset": preset, "comfyui_url": self.settings.comfy_url},
        )

    async def _upload(self, comfy: ComfyClient, key: str, stem: str) -> str:
        """Stream an input from the bucket into ComfyUI's input folder; the name it got.

        A key the bucket does not hold is the store's ``ObjectMissing`` (``InputDeleted``
        for the session's own keys, at the edge): the first chunk is read before anything
        is sent to ComfyUI, so the missing object is the error, not a broken upload.
        """
        chunks = aiter(self.store.stream(key))
        first = await anext(chunks, b"")
        return await comfy.upload(f"{stem}{PurePosixPath(key).suffix}", _prepend(first, chunks))

    async def _run(
        self, comfy: ComfyClient, graph: dict[str, Any], beat: Heartbeat, steps: SegmentSteps
    ) -> RunResult:
        """Run ``graph``; after running out of memory, free ComfyUI's memory and try once more.

        Cancelled (the session was cancelled), ``ComfyClient.run`` interrupts its prompt.
        """
        submitted = time.monotonic()
        waited: list[float] = []

        async def track(event: Event) -> None:
            now = time.monotonic()
            if isinstance(event, Progress) and not waited:
                # The first node started: the prompt left ComfyUI's queue.
                waited.append(now - submitted)
                activity.metric_meter().create_histogram_float(
                    "pipeline_comfy_queue_wait", "Seconds from submit to first node", "s"
                ).record(waited[0])
            beat.update(**steps.update(event, now).model_dump(mode="json"))

        timeout = self.settings.comfyui_timeout_s
        try:
            try:
                return await comfy.run(
                    graph, on_progress=track, on_queued=track, timeout=timeout
                )
            except OutOfMemory as oom:
                # Models and caches of earlier prompts may be what filled the GPU; a second
                # out-of-memory leaves the retry to Temporal (OutOfMemory is retryable).
                log.warning("segment_out_of_memory", segment=steps.segment, error=oom.message)
                await comfy.free()
                return await comfy.run(
                    graph, on_progress=track, on_queued=track, timeout=timeout
                )
        except asyncio.CancelledError:
            log.info("segment_interrupted", segment=steps.segment)
            raise

    def _reporter(self, steps: SegmentSteps) -> Callable[[], Awaitable[None]]:
        """What the heartbeat loop runs on each tick: signal the session whenever the
        segment's progress changed since the last signal."""
        sent: list[SegmentProgress] = []

        async def report() -> None:
            now = steps.report()
            if not sent or sent[-1] != now:
                await self._signal(now)
                sent[:] = [now]

        return report

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


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def _server_when_up(settings: Settings) -> tuple[dict[str, Any], ServerInfo]:
    """``/object_info`` and ``/system_stats`` through one client, once the server answers."""
    deadline = asyncio.get_running_loop().time() + settings.comfyui_start_timeout_s
    delay = 0.5
    while True:
        try:
            async with ComfyClient(settings.comfy_url) as comfy:
                return await comfy.object_info(), await comfy.server_info()
        except WorkerUnavailable as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            log.info(
                "comfyui_not_ready", url=settings.comfy_url, error=exc.message, retry_in_s=delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def _probe_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (832, 480), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def _probe_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """Silence, for the audio kinds' warm-up graphs."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()
