"""Reprocessing: choose the sessions a batch reruns, load a session for its rerun, and keep
the segments a rerun from one segment on does not render again."""

from __future__ import annotations

import json

from pydantic import ValidationError
from temporalio import activity

from activities.edge import edge
from pipeline import reprocess
from pipeline.domain.contracts import (
    LoadSessionInput,
    ReusedSegments,
    ReuseSegmentsInput,
    Selected,
    Selection,
    TakenDrop,
)
from pipeline.domain.errors import ManifestError, MissingMediaError
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Manifest
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import LOAD_SESSION, REUSE_SEGMENTS, SELECT_SESSIONS
from workflows_comfy import presets
from workflows_comfy.bound import BoundGraphPreset

log = get_logger()


class ReprocessActivities:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @activity.defn(name=SELECT_SESSIONS.name)
    @edge
    async def select_sessions(self, selection: Selection) -> Selected:
        selected = await reprocess.select(activity.client(), self.store, selection)
        return selected.model_copy(update={"bucket": self.store.bucket})

    @activity.defn(name=LOAD_SESSION.name)
    @edge
    async def load_session(self, request: LoadSessionInput) -> TakenDrop:
        """The session's own manifest with the rerun's overrides, and its inputs.

        Raises ``ManifestError`` when an override makes the manifest invalid and
        ``MissingMediaError`` when an input is gone from ``sessions/{id}/inputs/``.
        """
        layout = SessionLayout(request.session_id)
        raw = await self.store.get_bytes(layout.manifest)
        if raw is None:
            raise MissingMediaError(f"{layout.manifest} is gone: the session cannot be rerun")
        try:
            manifest = Manifest.model_validate({**json.loads(raw), **request.overrides})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'manifest'}: {e['msg']}" for e in exc.errors()
            )
            raise ManifestError(
                f"the overrides {request.overrides} make the manifest invalid: {problems}"
            ) from None
        inputs = {role: layout.input(relative) for role, relative in manifest.media().items()}
        missing = [key for key in inputs.values() if await self.store.head(key) is None]
        if missing:
            raise MissingMediaError(f"inputs gone from the session: {', '.join(missing)}")
        log.info("session_loaded", overrides=request.overrides)
        return TakenDrop(
            manifest=manifest,
            inputs=inputs,
            preset=presets.preset_name(manifest),
            steps=presets.sampling_steps(manifest),
            qc=presets.qc_policy(manifest),
            quality=presets.preset_for(manifest).quality,
            segment_audio=not isinstance(presets.preset_for(manifest), BoundGraphPreset),
        )

    @activity.defn(name=REUSE_SEGMENTS.name)
    @edge
    async def reuse_segments(self, request: ReuseSegmentsInput) -> ReusedSegments:
        """Copy (server-side) the first ``count`` segments of ``source_run`` into ``run``,
        each with the hand-off frames it saved, so the new run is whole on its own and the
        earlier run stays as it was.

        Raises ``MissingMediaError`` (not retried) when a segment is gone from the source run.
        """
        layout = SessionLayout(request.session_id)
        keys: list[str] = []
        for index in range(request.count):
            source = layout.segment(request.source_run, index)
            if await self.store.head(source) is None:
                raise MissingMediaError(
                    f"segment {index + 1} of run {request.source_run} is gone ({source}): "
                    "rerender from an earlier segment"
                )
            target = layout.segment(request.run, index)
            await self.store.copy(source, target)
            keys.append(target)
            for frames in (layout.segment_last_frame, layout.segment_motion_frames):
                if await self.store.head(frames(request.source_run, index)) is not None:
                    await self.store.copy(
                        frames(request.source_run, index), frames(request.run, index)
                    )
        log.info("segments_reused", source_run=request.source_run, count=request.count)
        return ReusedSegments(keys=tuple(keys))
