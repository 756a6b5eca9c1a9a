"""Workers: ``cpu`` runs workflows and media activities; ``gpu`` owns one ComfyUI server.

Activities are methods on classes whose clients (object store, ComfyUI) the worker
creates once and injects, so nothing lives at module level.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta
from enum import StrEnum

from temporalio.worker import Worker

from activities.comfy import BEAT_S, ComfyActivities
from activities.intake import IntakeActivities
from activities.media import MediaActivities
from activities.notify import NotifyActivities
from activities.reconcile import ReconcileActivities
from activities.records import RecordActivities
from activities.reprocess import ReprocessActivities
from activities.scratch import remove_stale_scratch
from activities.separation import SeparationActivities
from pipeline.config import Settings
from pipeline.ingest.starter import Starter, session_options
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect, metrics_runtime
from pipeline.worker.registry import announce
from pipeline.workflows.reconcile import ReconcileWorkflow
from pipeline.workflows.reprocess import ReprocessWorkflow
from pipeline.workflows.session import SessionWorkflow

log = get_logger()

GPU_CONCURRENCY = 1
"""ComfyUI runs one prompt at a time; a second activity would only queue behind it."""


class Role(StrEnum):
    CPU = "cpu"
    GPU = "gpu"


async def run_worker(role: Role, settings: Settings, stop: asyncio.Event) -> None:
    # What a killed worker left in the shared work dir; other live workers' folders stay.
    remove_stale_scratch(settings.work_dir)
    client = await connect(settings, runtime=metrics_runtime(settings, role.value))
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(ObjectStore(settings))
        if role is Role.CPU:
            intake, records = IntakeActivities(store), RecordActivities(store)
            media = MediaActivities(store, settings.work_dir)
            notify = NotifyActivities(store, settings)
            reprocess = ReprocessActivities(store)
            starter = Starter(client, inbox=store, **session_options(settings))
            reconcile = ReconcileActivities(store, starter)
            worker = Worker(
                client,
                task_queue=settings.temporal_task_queue,
                workflows=[SessionWorkflow, ReconcileWorkflow, ReprocessWorkflow],
                activities=[
                    intake.take_drop,
                    records.plan_frames,
                    records.publish_result,
                    records.record_failure,
                    records.record_cancellation,
                    notify.notify_completion,
                    reprocess.select_sessions,
                    reprocess.load_session,
                    media.prepare_image,
                    media.prepare_audio,
                    media.pad_audio,
                    media.extract_last_frames,
                    media.stitch,
                    reconcile.reconcile_inbox,
                ],
            )
        else:
            comfy = await ComfyActivities.connect(store, settings, client)
            separation = SeparationActivities(store, settings)
            can_separate = separation.capability()
            if can_separate.startswith("unavailable"):
                log.warning("separation_unavailable", reason=can_separate)
            await stack.enter_async_context(
                announce(
                    store,
                    identity=client.identity,
                    task_queue=settings.temporal_gpu_task_queue,
                    comfyui_url=settings.comfy_url,
                    object_info=comfy.object_info,
                    separation=can_separate,
                )
            )
            worker = Worker(
                client,
                task_queue=settings.temporal_gpu_task_queue,
                activities=[comfy.generate_segment, separation.separate_vocals],
                max_concurrent_activities=GPU_CONCURRENCY,
                # A cancel reaches a segment in its heartbeat's answer: send them promptly.
                max_heartbeat_throttle_interval=timedelta(seconds=BEAT_S),
            )
        log.info(
            "worker_started",
            role=role.value,
            serving=worker.task_queue,
            **settings.safe_summary(),
        )
        async with worker:
            await stop.wait()
    log.info("worker_stopped", role=role.value)
