"""Workers: ``cpu`` runs workflows and media activities; ``gpu`` owns one ComfyUI server
(``pipeline.worker.gpu``).

Activities are methods on classes whose clients (object store, ComfyUI) the worker
creates once and injects, so nothing lives at module level.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

from temporalio.worker import Worker

from activities.intake import IntakeActivities
from activities.media import MediaActivities
from activities.notify import NotifyActivities
from activities.preview import PreviewActivities
from activities.provenance import ProvenanceActivities
from activities.quality import QualityActivities
from activities.reconcile import ReconcileActivities
from activities.records import RecordActivities
from activities.reprocess import ReprocessActivities
from activities.scratch import remove_stale_scratch
from pipeline.config import Settings
from pipeline.domain.errors import ConfigError, LockError
from pipeline.domain.provenance import ModelFile
from pipeline.ingest.starter import Starter, session_options
from pipeline.logging import get_logger
from pipeline.provenance.credentials import load_credential
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect, metrics_runtime
from pipeline.weights.lock import load_lock
from pipeline.worker.gpu import run_gpu_worker
from pipeline.workflows.callback import CallbackWorkflow
from pipeline.workflows.reconcile import ReconcileWorkflow
from pipeline.workflows.reprocess import ReprocessWorkflow
from pipeline.workflows.session import SessionWorkflow

log = get_logger()

CPU_WORKFLOWS = (SessionWorkflow, CallbackWorkflow, ReconcileWorkflow, ReprocessWorkflow)
"""Every workflow the ``cpu`` worker runs (tests that run the workflows register the same)."""


class Role(StrEnum):
    CPU = "cpu"
    GPU = "gpu"


def model_files(settings: Settings) -> dict[str, tuple[ModelFile, ...]]:
    """Preset → its model files with their sha256 from ``MODELS_LOCK`` (the signed
    manifests' models); ``ConfigError`` when the lock cannot be read."""
    try:
        lock = load_lock(settings.models_lock)
    except LockError as exc:
        raise ConfigError(f"MODELS_LOCK: {exc}") from None
    presets = sorted({p for f in lock.files for p in f.presets})
    return {
        preset: tuple(
            ModelFile(file=f.path, sha256=f.sha256) for f in lock.files if preset in f.presets
        )
        for preset in presets
    }


async def run_worker(role: Role, settings: Settings, stop: asyncio.Event) -> None:
    # What a killed worker left in the shared work dir; other live workers' folders stay.
    remove_stale_scratch(settings.work_dir)
    if role is Role.GPU:
        await run_gpu_worker(settings, stop)
        return
    # Signing misconfigured fails here, in one line, before any work is taken.
    credential = load_credential(settings)
    models = model_files(settings) if credential is not None else {}
    client = await connect(settings, runtime=metrics_runtime(settings, role.value))
    async with ObjectStore(settings) as store:
        intake, records = IntakeActivities(store), RecordActivities(store, settings.prices)
        media = MediaActivities(store, settings.work_dir)
        previews = PreviewActivities(store, settings.work_dir)
        quality = QualityActivities(store, settings.work_dir)
        provenance = ProvenanceActivities(store, settings.work_dir, credential, models)
        notify = NotifyActivities(store, settings)
        reprocess = ReprocessActivities(store)
        starter = Starter(client, inbox=store, **session_options(settings))
        reconcile = ReconcileActivities(store, starter)
        worker = Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=CPU_WORKFLOWS,
            activities=[
                intake.take_drop,
                records.plan_frames,
                records.publish_result,
                records.record_failure,
                records.record_cancellation,
                notify.notify_completion,
                reprocess.select_sessions,
                reprocess.load_session,
                reprocess.reuse_segments,
                media.prepare_image,
                media.prepare_audio,
                media.pad_audio,
                media.extract_last_frames,
                media.stitch,
                previews.make_segment_preview,
                previews.make_run_previews,
                provenance.sign_outputs,
                quality.check_segment,
                reconcile.reconcile_inbox,
            ],
        )
        log.info(
            "worker_started", role=role.value, serving=worker.task_queue, **settings.safe_summary()
        )
        async with worker:
            await stop.wait()
    log.info("worker_stopped", role=role.value)
