"""Vocal separation: the mix's vocals, for the lip-sync model, as ``prepared/vocals.wav``.

Runs where the model's weights are (``DEMUCS_MODEL_PATH``), on the GPU when the worker
has one. The model is loaded once, on the first separation, and kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

from activities.edge import edge
from activities.scratch import scratch_dir
from pipeline.config import Settings
from pipeline.domain.contracts import SeparationInput, SeparationOutput
from pipeline.domain.layout import SessionLayout, file_name
from pipeline.logging import get_logger
from pipeline.media.separation import SeparationUnavailable, VocalSeparator, load_separator
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import SEPARATE_VOCALS

log = get_logger()

VOCALS_NAME = "vocals.wav"
HEARTBEAT_S = 10.0
T = TypeVar("T")


class SeparationActivities:
    def __init__(self, store: ObjectStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._separator: VocalSeparator | None = None
        self._loading = asyncio.Lock()

    async def _loaded(self) -> VocalSeparator:
        async with self._loading:
            if self._separator is None:
                path = self.settings.demucs_model_path
                if path is None:
                    raise SeparationUnavailable(
                        "DEMUCS_MODEL_PATH is not set on this worker: point it at a local "
                        "htdemucs .safetensors file (or a bag's .yaml), or set "
                        '"separate_vocals": false in the manifest for clean speech'
                    )
                self._separator = await asyncio.to_thread(load_separator, path)
                log.info("demucs_loaded", path=str(path), device=self._separator.device)
        return self._separator

    @activity.defn(name=SEPARATE_VOCALS.name)
    @edge
    async def separate_vocals(self, request: SeparationInput) -> SeparationOutput:
        separator = await self._loaded()
        key = SessionLayout(request.session_id).vocals
        with scratch_dir(self.settings.work_dir, "separation-") as scratch:
            mix = scratch / file_name(request.audio_key)
            await self.store.download(request.audio_key, mix)
            separated = await _heartbeating(
                asyncio.to_thread(separator.separate, mix, scratch / VOCALS_NAME)
            )
            await self.store.upload(separated.path, key, "audio/wav")
        log.info("vocals_separated", seconds=separated.duration_s, device=separated.device)
        return SeparationOutput(
            vocals_key=key,
            sample_rate=separated.sample_rate,
            duration_s=separated.duration_s,
            device=separated.device,
        )


async def _heartbeating(work: Awaitable[T]) -> T:
    """Await ``work``, heartbeating meanwhile: a long song must not look like a dead worker."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_S)
        if done:
            return task.result()
        activity.heartbeat({"stage": "separating"})
