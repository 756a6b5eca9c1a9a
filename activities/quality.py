"""The quality gate's CPU activity: fetch a segment (and the last frames of the one before
it), measure, judge, record the report and this segment's last frames under
``generations/{run}/quality/``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity

from activities.edge import edge
from activities.scratch import input_path, scratch_dir
from pipeline.domain.contracts import CheckSegmentInput
from pipeline.domain.layout import SessionLayout, file_name
from pipeline.domain.quality import QualityReport
from pipeline.logging import get_logger
from pipeline.media.quality import Before, measure
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import CHECK_SEGMENT

log = get_logger()


class QualityActivities:
    def __init__(self, store: ObjectStore, work_dir: Path) -> None:
        self.store = store
        self.work_dir = work_dir

    async def _fetch(self, folder: Path, key: str) -> Path:
        path = input_path(folder, key)
        await self.store.download(key, path)
        return path

    async def _before(self, folder: Path, request: CheckSegmentInput) -> Before | None:
        """The segment before this one: its tail clip where its check kept one in this run,
        else its whole video (a session checked before tails were kept, or a segment a
        re-render reused from an earlier run)."""
        if request.previous_key is None or request.index == 0:
            return None
        # A folder of its own: a re-render may share the earlier segment's file name.
        folder = folder / "previous"
        tail_key = SessionLayout(request.session_id).quality_tail(request.run, request.index - 1)
        tail = await self.store.get_bytes(tail_key)
        if tail is None:
            return Before(await self._fetch(folder, request.previous_key), tail=False)
        path = input_path(folder, tail_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tail)
        return Before(path, tail=True)

    @activity.defn(name=CHECK_SEGMENT.name)
    @edge
    async def check_segment(self, request: CheckSegmentInput) -> QualityReport:
        """The segment's ``QualityReport``, also written to ``SessionLayout.quality``; its
        last frames go to ``SessionLayout.quality_tail`` for the next segment's seam.

        A segment that fails a check is no error here: the report says so and the workflow
        decides (``QcPolicy``). The seam is measured when there is a segment before and this
        one decodes; a segment before that cannot be decoded (recorded by its own report
        under ``qc = report``) leaves the seam unmeasured.
        """
        thresholds = request.thresholds
        layout = SessionLayout(request.session_id)
        with scratch_dir(self.work_dir, "activity-") as scratch:
            video = await self._fetch(scratch, request.segment_key)
            measured = await asyncio.to_thread(
                measure,
                video,
                expected_frames=request.expected_frames,
                fps=request.fps,
                expect_audio=request.expect_audio,
                thresholds=thresholds,
                index=request.index,
                before=await self._before(scratch, request),
                overlap_frames=request.overlap_frames,
                keep_tail=scratch / "tail.mkv",
            )
            tail_key = layout.quality_tail(request.run, request.index)
            if measured.tail is not None:
                await self.store.upload(measured.tail, tail_key, "video/x-matroska")
            else:
                # An earlier attempt's tail is not this render's: the next seam reads the video.
                await self.store.delete(tail_key)
        if measured.seam_error is not None:
            log.warning(
                "seam_unmeasured",
                previous=file_name(request.previous_key or ""),
                reason=measured.seam_error,
            )
        report = QualityReport.judged(
            measured.segment, measured.seam, thresholds, attempt=request.attempt
        )
        key = layout.quality(request.run, request.index, request.attempt)
        await self.store.put_json(key, report.model_dump(mode="json"))
        log.info(
            "segment_checked",
            segment=request.index,
            attempt=request.attempt,
            passed=report.passed,
            failures=[failure.measure.value for failure in report.failures],
        )
        return report
