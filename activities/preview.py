"""CPU preview activities: fetch to scratch disk, make small files (``pipeline.media.preview``),
upload them under ``generations/{run}/preview/`` (``SessionLayout.preview_*``).

``make_segment_preview`` runs once per segment, as soon as it exists; ``make_run_previews``
once per run, after the stitch. Both overwrite their own keys, so a retried attempt or a
re-rendered segment leaves one preview per key.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity

from activities.edge import edge
from activities.heartbeat import heartbeating
from activities.scratch import input_path, scratch_dir
from pipeline.domain.layout import SessionLayout
from pipeline.domain.previews import (
    RunPreviews,
    RunPreviewsInput,
    SegmentPreview,
    SegmentPreviewInput,
)
from pipeline.logging import get_logger
from pipeline.media.contact_sheet import contact_sheet
from pipeline.media.preview import poster, seam_frames, segment_preview
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import MAKE_RUN_PREVIEWS, MAKE_SEGMENT_PREVIEW

log = get_logger()

HEARTBEAT_S = 10.0
"""Well inside ``CPU_POLICY``'s one-minute heartbeat timeout while ffmpeg runs."""


class PreviewActivities:
    def __init__(self, store: ObjectStore, work_dir: Path) -> None:
        self.store = store
        self.work_dir = work_dir

    @activity.defn(name=MAKE_SEGMENT_PREVIEW.name)
    @edge
    async def make_segment_preview(self, request: SegmentPreviewInput) -> SegmentPreview:
        """Segment ``index`` as a small MP4 at ``preview_segment(run, index)``."""
        key = SessionLayout(request.session_id).preview_segment(request.run, request.index)
        with scratch_dir(self.work_dir, "activity-") as scratch:
            source = input_path(scratch, request.segment_key)
            await self.store.download(request.segment_key, source)
            target = scratch / "preview.mp4"
            async with heartbeating(HEARTBEAT_S, stage="preview", segment=request.index):
                made = await asyncio.to_thread(segment_preview, source, target)
            size = target.stat().st_size
            await self.store.upload(target, key, "video/mp4")
        log.info(
            "segment_preview_made",
            segment=request.index,
            bytes=size,
            size=(made.width, made.height),
            frames=made.frame_count,
        )
        return SegmentPreview(key=key, bytes=size)

    @activity.defn(name=MAKE_RUN_PREVIEWS.name)
    @edge
    async def make_run_previews(self, request: RunPreviewsInput) -> RunPreviews:
        """The poster and the contact sheet of the stitched run, captions under each pair."""
        layout = SessionLayout(request.session_id)
        with scratch_dir(self.work_dir, "activity-") as scratch:
            video = input_path(scratch, request.combined_key)
            await self.store.download(request.combined_key, video)
            poster_path, sheet_path = scratch / "poster.jpg", scratch / "contact_sheet.png"
            async with heartbeating(HEARTBEAT_S, stage="previews"):
                frame = await asyncio.to_thread(poster, video, poster_path)
                pairs = await asyncio.to_thread(seam_frames, video, request.plan, scratch / "f")
                # The first pair is the run's, then one per seam (as RunPreviewsInput checks).
                seam_lines = request.seam_captions or ((),) * (len(pairs) - 1)
                pairs = [
                    pair._replace(caption=(*pair.caption, *lines))
                    for pair, lines in zip(pairs, (request.run_captions, *seam_lines), strict=True)
                ]
                sheet = await asyncio.to_thread(contact_sheet, pairs, sheet_path)
            await self.store.upload(poster_path, layout.preview_poster(request.run), "image/jpeg")
            await self.store.upload(
                sheet_path, layout.preview_contact_sheet(request.run), "image/png"
            )
        log.info("run_previews_made", poster_frame=frame, sheet=sheet.size, pairs=len(pairs))
        return RunPreviews(
            poster_key=layout.preview_poster(request.run),
            contact_sheet_key=layout.preview_contact_sheet(request.run),
            poster_frame=frame,
        )
