"""The check_segment activity against SeaweedFS, run by the SDK's activity environment."""

from __future__ import annotations

import uuid
from pathlib import Path

import ffmpeg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.quality import QualityActivities
from pipeline.domain.contracts import CheckSegmentInput
from pipeline.domain.layout import SessionLayout
from pipeline.domain.quality import Measure, QualityReport
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

FPS = 16
FRAMES = 33
OVERLAP = 1


def _clip(path: Path, start: int, *, black: bool = False) -> Path:
    """testsrc2 from frame ``start``: consecutive clips continue each other."""
    source = ffmpeg.input(f"testsrc2=s=192x128:r={FPS}", f="lavfi").video
    video = source.trim(start_frame=start, end_frame=start + FRAMES).setpts("PTS-STARTPTS")
    if black:
        video = video.drawbox(0, 0, "iw", "ih", color="black", thickness="fill")
    video.output(str(path), vcodec="libx264", pix_fmt="yuv420p").run(
        quiet=True, overwrite_output=True
    )
    return path


async def _check(
    bucket: S3Bucket, work: Path, request: CheckSegmentInput
) -> tuple[QualityReport, object]:
    """The activity's report, and the JSON it left at the report's layout key."""
    async with ObjectStore(bucket.settings(PIPELINE_WORK_DIR=str(work))) as store:
        report = await ActivityEnvironment().run(
            QualityActivities(store, work / "scratch").check_segment, request
        )
        layout = SessionLayout(request.session_id)
        stored = await store.get_json(layout.quality(request.run, request.index, request.attempt))
    return report, stored


async def _upload(bucket: S3Bucket, work: Path, files: dict[str, Path]) -> None:
    async with ObjectStore(bucket.settings(PIPELINE_WORK_DIR=str(work))) as store:
        for key, path in files.items():
            await store.upload(path, key, "video/mp4")


def _request(session: str, index: int, previous: bool, attempt: int = 0) -> CheckSegmentInput:
    layout = SessionLayout(session)
    return CheckSegmentInput(
        session_id=session,
        run="r1",
        index=index,
        segment_key=layout.segment("r1", index),
        previous_key=layout.segment("r1", index - 1) if previous else None,
        expected_frames=FRAMES,
        fps=FPS,
        overlap_frames=OVERLAP if previous else 0,
        attempt=attempt,
    )


async def test_a_continuing_segment_passes_and_its_report_is_stored(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    session = f"qc-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session)
    await _upload(
        s3_bucket,
        tmp_path,
        {
            layout.segment("r1", 0): _clip(tmp_path / "a.mp4", 0),
            layout.segment("r1", 1): _clip(tmp_path / "b.mp4", FRAMES - OVERLAP),
        },
    )

    first, stored_first = await _check(s3_bucket, tmp_path, _request(session, 0, previous=False))
    second, stored_second = await _check(s3_bucket, tmp_path, _request(session, 1, previous=True))

    assert (first.passed, first.seam) == (True, None)
    assert second.passed
    assert second.seam is not None
    assert (second.seam.index, second.seam.after_frame) == (1, OVERLAP)
    assert QualityReport.model_validate(stored_first) == first
    assert QualityReport.model_validate(stored_second) == second
    assert not list((tmp_path / "scratch").iterdir())


async def test_a_black_re_render_fails_black_and_keeps_its_own_report(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    session = f"qc-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session)
    await _upload(
        s3_bucket,
        tmp_path,
        {
            layout.segment("r1", 0): _clip(tmp_path / "a.mp4", 0),
            layout.segment("r1", 1): _clip(tmp_path / "b.mp4", FRAMES - OVERLAP, black=True),
        },
    )

    report, stored = await _check(s3_bucket, tmp_path, _request(session, 1, True, attempt=1))

    assert not report.passed
    assert Measure.BLACK in [failure.measure for failure in report.failures]
    assert report.attempt == 1
    assert QualityReport.model_validate(stored) == report


async def test_an_undecodable_segment_before_leaves_the_seam_unmeasured(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    session = f"qc-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    await _upload(
        s3_bucket,
        tmp_path,
        {
            layout.segment("r1", 0): garbage,
            layout.segment("r1", 1): _clip(tmp_path / "b.mp4", FRAMES - OVERLAP),
        },
    )

    report, _ = await _check(s3_bucket, tmp_path, _request(session, 1, previous=True))

    assert report.seam is None
    assert report.segment.decodable
    assert report.passed


async def test_the_next_seam_reads_the_kept_tail_not_the_video_before(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    session = f"qc-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session)
    await _upload(
        s3_bucket,
        tmp_path,
        {
            layout.segment("r1", 0): _clip(tmp_path / "a.mp4", 0),
            layout.segment("r1", 1): _clip(tmp_path / "b.mp4", FRAMES - OVERLAP),
        },
    )
    await _check(s3_bucket, tmp_path, _request(session, 0, previous=False))
    async with ObjectStore(s3_bucket.settings(PIPELINE_WORK_DIR=str(tmp_path))) as store:
        tail = await store.head(layout.quality_tail("r1", 0))
        # Gone: only the tail can give the seam its frames before.
        await store.delete(layout.segment("r1", 0))

    report, _ = await _check(s3_bucket, tmp_path, _request(session, 1, previous=True))

    assert tail is not None
    assert tail.size < 200_000
    assert report.seam is not None
    assert report.passed


async def test_a_check_that_keeps_no_tail_removes_an_earlier_attempts(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    session = f"qc-{uuid.uuid4().hex[:8]}"
    layout = SessionLayout(session)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    await _upload(s3_bucket, tmp_path, {layout.segment("r1", 0): _clip(tmp_path / "a.mp4", 0)})
    await _check(s3_bucket, tmp_path, _request(session, 0, previous=False))
    await _upload(s3_bucket, tmp_path, {layout.segment("r1", 0): garbage})

    report, _ = await _check(s3_bucket, tmp_path, _request(session, 0, False, attempt=1))

    async with ObjectStore(s3_bucket.settings(PIPELINE_WORK_DIR=str(tmp_path))) as store:
        assert await store.head(layout.quality_tail("r1", 0)) is None
    assert not report.segment.decodable
