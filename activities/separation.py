"""Vocal separation: the mix's vocals, for the lip-sync model, as ``prepared/vocals.wav``.

Runs where the model's weights are (``DEMUCS_MODEL_PATH``), on the GPU when the worker
has one. The model is loaded once, on the first separation, and kept.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time

from temporalio import activity

from activities.edge import edge
from activities.heartbeat import heartbeating
from activities.scratch import input_path, scratch_dir
from pipeline.config import Settings
from pipeline.domain.contracts import SeparationInput, SeparationOutput
from pipeline.domain.errors import SeparationElsewhere, SeparationUnavailable
from pipeline.domain.layout import SessionLayout
from pipeline.domain.queues import is_separation_queue
from pipeline.fleet.admission import Admission, SessionRun
from pipeline.logging import get_logger
from pipeline.media.separation import VocalSeparator, load_separator, stand_in_label
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import SEPARATE_VOCALS

log = get_logger()

VOCALS_NAME = "vocals.wav"
NO_MODEL = (
    "DEMUCS_MODEL_PATH is not set on this worker: point it at a local htdemucs "
    '.safetensors file (or a bag\'s .yaml or .yml), or set "separate_vocals": false in the '
    "manifest for clean speech"
)


class SeparationActivities:
    def __init__(self, store: ObjectStore, settings: Settings, admission: Admission) -> None:
        self.store = store
        self.settings = settings
        self.admission = admission
        self._separator: VocalSeparator | None = None
        self._loading = asyncio.Lock()

    def capability(self) -> str:
        """What this worker can do for ``separate_vocals``, announced in its worker record.

        ``demucs: {file}``, ``stand-in: {label}`` or ``unavailable: {why}`` (then the
        worker polls no separation queue), checked without loading.
        """
        path = self.settings.demucs_model_path
        if path is None:
            return f"unavailable: {NO_MODEL}"
        if importlib.util.find_spec("demucs") is None:
            return "unavailable: torch and demucs are not installed on this worker"
        if not path.is_file():
            return f"unavailable: DEMUCS_MODEL_PATH {path} is not a file on this worker"
        try:
            label = stand_in_label(path)
        except Exception as exc:  # an unreadable model file is the operator's to fix
            return f"unavailable: cannot read {path.name}: {type(exc).__name__}"
        return f"stand-in: {label}" if label else f"demucs: {path.name}"

    async def _loaded(self) -> VocalSeparator:
        async with self._loading:
            if self._separator is None:
                path = self.settings.demucs_model_path
                if path is None:
                    raise SeparationUnavailable(NO_MODEL)
                self._separator = await asyncio.to_thread(load_separator, path)
                log.info("demucs_loaded", path=str(path), device=self._separator.device)
        return self._separator

    async def _separator_here(self) -> VocalSeparator:
        """The loaded model; if this worker cannot separate, send the task elsewhere.

        A task from a separation queue or this worker's own queue goes back to the
        preset's separation queue (``SeparationElsewhere``), and the worker stops polling
        those queues first. One from the preset's plain queue came from a session started
        before separation had queues of its own: that still fails as ``separation_unavailable``,
        since rerouting it would bring it straight back to the same workers.
        """
        queue = activity.info().task_queue
        elsewhere = is_separation_queue(queue) or queue == self.admission.worker_task_queue
        try:
            return await self._loaded()
        except SeparationUnavailable as exc:
            if not elsewhere:
                raise
            await self.admission.set_separation(f"unavailable: {exc.message}")
            log.warning("separation_unavailable", reason=exc.message)
            raise SeparationElsewhere(
                f"this worker cannot separate vocals ({exc.message}); another worker will"
            ) from exc

    @activity.defn(name=SEPARATE_VOCALS.name)
    @edge
    async def separate_vocals(self, request: SeparationInput) -> SeparationOutput:
        key = SessionLayout(request.session_id).vocals
        async with (
            heartbeating(self.settings.gpu_heartbeat_s, stage="downloading") as beat,
            # Segments follow: they come to this worker.
            self.admission.task(
                activity.info().task_queue,
                SessionRun(
                    activity.info().workflow_id or request.session_id,
                    activity.info().workflow_run_id,
                ),
                more_to_come=True,
                task_token=activity.info().task_token,
            ) as turn,
        ):
            with scratch_dir(self.settings.work_dir, "separation-") as scratch:
                mix = input_path(scratch, request.audio_key)
                await self.store.download(request.audio_key, mix)
                beat.update(stage="waiting_for_gpu")
                async with turn.gpu():
                    held = time.monotonic()
                    beat.update(stage="separating")
                    separator = await self._separator_here()
                    separated = await asyncio.to_thread(
                        separator.separate, mix, scratch / VOCALS_NAME
                    )
                    gpu_s = time.monotonic() - held
                beat.update(stage="uploading")
                await self.store.upload(separated.path, key, "audio/wav")
        log.info("vocals_separated", seconds=separated.duration_s, device=separated.device)
        return SeparationOutput(
            vocals_key=key,
            sample_rate=separated.sample_rate,
            duration_s=separated.duration_s,
            device=separated.device,
            gpu_s=round(gpu_s, 3),
            stand_in=separator.stand_in,
            worker_task_queue=self.admission.worker_task_queue,
        )
