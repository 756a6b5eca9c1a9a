"""The quality gate's CPU activity: fetch a segment (and the one before it), measure, judge,
record the report under ``generations/{run}/quality/``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity

from activities.edge import edge
from activities.scratch import input_path, scratch_dir
from pipeline.domain.contracts import CheckSegmentInput
from pipeline.domain.errors import MediaError
from pipeline.domain.layout import SessionLayout, file_name
from pipeline.domain.quality import QualityReport, SeamQuality
from pipeline.logging import get_logger
from pipeline.media.quality import measure_seam, measure_segment
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

    @activity.defn(name=CHECK_SEGMENT.name)
    @edge
    async def check_segment(self, request: CheckSegmentInput) -> QualityReport:
        """The segment's ``QualityReport``, also written to ``SessionLayout.quality``.

        A segment that fails a check is no error here: the report says so and the workflow
        decides (``QcPolicy``). The seam is measured when there is a segment before and this
        one decodes; a segment before that cannot be decoded (recorded by its own report
        under ``qc = report``) leaves the seam unmeasured.
        """
        thresholds = request.thresholds
        with scratch_dir(self.work_dir, "activity-") as scratch:
            video = await self._fetch(scratch, request.segment_key)
            segment = await asyncio.to_thread(
                measure_segment,
                video,
                expected_frames=request.expected_frames,
                fps=request.fps,
                expect_audio=request.expect_audio,
                thresholds=thresholds,
                index=request.index,
            )
            seam: SeamQuality | None = None
            if request.previous_key is not None and segment.decodable:
                # A folder of its own: a re-render may share the earlier segment's file name.
                before = await self._fetch(scratch / "previous", request.previous_key)
                try:
                    seam = await asyncio.to_thread(
                        measure_seam,
                        before,
                        video,
                        overlap_frames=request.overlap_frames,
                        thresholds=thresholds,
                        index=request.index,
                    )
                except MediaError as error:
                    log.warning(
                        "seam_unmeasured",
                        previous=file_name(request.previous_key),
                        reason=error.message,
                    )
        report = QualityReport.judged(segment, seam, thresholds, attempt=request.attempt)
        key = SessionLayout(request.session_id).quality(request.run, request.index, request.attempt)
        await self.store.put_json(key, report.model_dump(mode="json"))
        log.info(
            "segment_checked",
            segment=request.index,
            attempt=request.attempt,
            passed=report.passed,
            failures=[failure.measure.value for failure in report.failures],
        )
        return report
