"""The GPU worker: one ComfyUI, one task at a time, polling the queues of what it can run.

It runs one Temporal ``Worker`` per task queue, all with the same activities: its own
queue (``gpu.worker.{name}``, where sessions it already runs send their later GPU tasks;
the name outlives the process, see ``pipeline.domain.queues``), one per known preset
(``gpu.{preset}``) and, when it can separate vocals, one per preset's separation queue
(``gpu.{preset}.separation``); ``Admission`` lets a preset's queues poll only while its
ComfyUI can run that preset and the GPU is idle, a separation queue only while the Demucs
model is usable, and nothing poll while ComfyUI does not answer or the worker drains; the
slots of sessions that ended between two GPU tasks are freed at once
(``pipeline.fleet.sessions``). On stop it drains: no new polls, the running task gets
``GPU_DRAIN_GRACE_S`` to finish, then it is cancelled (ComfyUI is interrupted) and Temporal
retries it on another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import (
    FixedSizeSlotSupplier,
    PollerBehaviorSimpleMaximum,
    Worker,
    WorkerTuner,
)

from activities.comfy import BEAT_S, ComfyActivities
from activities.separation import SeparationActivities
from pipeline.comfy.client import ComfyClient
from pipeline.config import Settings
from pipeline.domain.errors import ComfyError, PipelineError
from pipeline.domain.queues import (
    polled_queues,
    preset_queue,
    separation_queue,
    worker_name,
    worker_queue,
)
from pipeline.fleet.admission import Admission, QueueSlots
from pipeline.fleet.capabilities import Capabilities
from pipeline.fleet.registry import announce, retire_predecessors
from pipeline.fleet.sessions import watch_sessions
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect, metrics_runtime
from workflows_comfy.presets import PRESETS

log = get_logger()


def _tuner(admission: Admission, preset: str | None, separation: bool) -> WorkerTuner:
    unused = FixedSizeSlotSupplier(1)
    return WorkerTuner.create_composite(
        workflow_supplier=unused,
        activity_supplier=QueueSlots(admission, preset, separation=separation),
        local_activity_supplier=unused,
        nexus_supplier=unused,
    )


def queue_workers(
    client: Client,
    settings: Settings,
    admission: Admission,
    activities: list[Any],
    *,
    separation: bool,
) -> list[Worker]:
    """One ``Worker`` for the worker's own queue, one per known preset's queue and, when
    the worker can ``separation`` (separate vocals), one per preset's separation queue."""
    prefix = settings.temporal_gpu_task_queue
    queues: dict[str, tuple[str | None, bool]] = {admission.worker_task_queue: (None, False)}
    queues |= {preset_queue(prefix, name): (name, False) for name in sorted(PRESETS)}
    if separation:
        queues |= {separation_queue(prefix, name): (name, True) for name in sorted(PRESETS)}
    return [
        Worker(
            client,
            task_queue=queue,
            activities=activities,
            tuner=_tuner(admission, preset, separates),
            activity_task_poller_behavior=PollerBehaviorSimpleMaximum(1),
            graceful_shutdown_timeout=timedelta(seconds=settings.gpu_drain_grace_s),
            # A cancel reaches a segment in its heartbeat's answer: send them promptly.
            max_heartbeat_throttle_interval=timedelta(seconds=BEAT_S),
        )
        for queue, (preset, separates) in queues.items()
    ]


async def watch_health(capabilities: Capabilities, interval_s: float) -> None:
    """Poll only while ComfyUI answers; after an outage, re-read what it can run."""
    admission = capabilities.admission
    while True:
        await asyncio.sleep(interval_s)
        try:
            async with ComfyClient(capabilities.comfy_url) as comfy:
                await comfy.server_info()
            if not admission.ready:
                await capabilities.refresh()
                log.info("comfyui_back", url=capabilities.comfy_url)
                await admission.set_ready(True)
        except ComfyError as exc:
            if admission.ready:
                log.warning(
                    "comfyui_down_stop_polling", url=capabilities.comfy_url, error=exc.message
                )
            await admission.set_ready(False)


async def run_gpu_worker(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect(settings, runtime=metrics_runtime(settings, "gpu"))
    prefix = settings.temporal_gpu_task_queue
    name = settings.gpu_worker_name or worker_name(socket.gethostname(), settings.comfy_url)
    admission = Admission(
        worker_queue(prefix, name), keep_open_s=settings.sticky_schedule_to_start_s
    )
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(ObjectStore(settings))
        comfy = await ComfyActivities.connect(store, settings, admission, client)
        separation = SeparationActivities(store, settings, admission)
        await admission.set_separation(separation.capability())
        if not admission.separates:
            log.warning("separation_unavailable", reason=admission.separation)
        warm_up = settings.gpu_warmup_preset
        if warm_up is not None:
            if warm_up in comfy.capabilities.presets:
                try:
                    await comfy.warm_up(warm_up)
                except PipelineError as exc:  # the first session pays the load instead
                    log.warning("warm_up_failed", preset=warm_up, error=exc.message)
            else:
                log.warning("warm_up_skipped", preset=warm_up, serving=comfy.capabilities.serving)
        # Ready before the record goes out, which otherwise says "ComfyUI not answering"
        # until its first refresh; nothing polls before the workers below run.
        await admission.set_ready(True)
        await retire_predecessors(client, store, admission.worker_task_queue, client.identity)
        await stack.enter_async_context(
            announce(
                store,
                identity=client.identity,
                task_queue=prefix,
                capabilities=comfy.capabilities,
            )
        )
        workers = queue_workers(
            client,
            settings,
            admission,
            [comfy.generate_segment, separation.separate_vocals],
            separation=admission.separates,
        )
        running = [asyncio.create_task(worker.run()) for worker in workers]
        health = asyncio.create_task(
            watch_health(comfy.capabilities, settings.gpu_health_interval_s)
        )
        ended = asyncio.create_task(
            watch_sessions(admission, client, settings.gpu_health_interval_s)
        )
        log.info(
            "worker_started",
            role="gpu",
            worker_task_queue=admission.worker_task_queue,
            polling=polled_queues(prefix, admission.serving, separates=admission.separates),
            **settings.safe_summary(),
        )
        try:
            await stop.wait()
        finally:
            health.cancel()
            ended.cancel()
            await admission.drain()
            log.info("worker_draining", grace_s=settings.gpu_drain_grace_s, tasks=admission.tasks)
            await asyncio.gather(*(worker.shutdown() for worker in workers))
            await asyncio.gather(*running, health, ended, return_exceptions=True)
    log.info("worker_stopped", role="gpu")
