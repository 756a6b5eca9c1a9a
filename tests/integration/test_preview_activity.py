"""The preview activities against SeaweedFS, run by the SDK's activity environment: what
they read and write is in the bucket, under the run's ``preview/`` keys."""

from __future__ import annotations

from pathlib import Path

import ffmpeg
import pytest
from PIL import Image
from temporalio.testing import ActivityEnvironment

from activities.preview import PreviewActivities
from pipeline.domain.frames.plan import plan_i2v
from pipeline.domain.layout import SessionLayout
from pipeline.domain.previews import RunPreviewsInput, SegmentPreviewInput
from pipeline.media.contact_sheet import LINE_HEIGHT, MARGIN, PAIR_GAP
from pipeline.media.probe import probe
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

SESSION = "preview-test"
RUN = "r1"


def _clip(path: Path, frames: int, *, audio: bool) -> Path:
    """``frames`` of testsrc2 at 832x480, 16 fps, with a tone when ``audio``."""
    seconds = frames / 16
    streams = [ffmpeg.input(f"testsrc2=s=832x480:r=16:d={seconds}", f="lavfi").video]
    options: dict[str, object] = {"vcodec": "libx264", "pix_fmt": "yuv420p"}
    if audio:
        streams.append(ffmpeg.input(f"sine=f=330:d={seconds}", f="lavfi").audio)
        options["acodec"] = "aac"
    ffmpeg.output(*streams, str(path), **options).overwrite_output().run(quiet=True)
    return path


async def test_a_segments_preview_is_stored_under_the_runs_preview_key(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    layout = SessionLayout(SESSION)
    segment_key = layout.segment(RUN, 1)
    async with ObjectStore(s3_bucket.settings(PIPELINE_WORK_DIR=str(tmp_path / "work"))) as store:
        await store.upload(_clip(tmp_path / "segment.mp4", 81, audio=True), segment_key)
        activities = PreviewActivities(store, tmp_path / "work")

        made = await ActivityEnvironment().run(
            activities.make_segment_preview,
            SegmentPreviewInput(session_id=SESSION, run=RUN, index=1, segment_key=segment_key),
        )

        assert made.key == f"sessions/{SESSION}/generations/{RUN}/preview/segment_001.mp4"
        size = await store.download(made.key, tmp_path / "preview.mp4")
    assert made.bytes == size
    preview = probe(tmp_path / "preview.mp4")
    assert (preview.width, preview.height, preview.frame_count) == (320, 184, 81)
    assert preview.has_audio
    assert not list((tmp_path / "work").iterdir())  # the scratch folder is gone


async def test_a_runs_poster_and_contact_sheet_are_stored_with_the_captions_given(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    layout = SessionLayout(SESSION)
    plan = plan_i2v(extensions=1, fps=16, width=832, height=480)
    combined_key = layout.combined(RUN)
    async with ObjectStore(s3_bucket.settings(PIPELINE_WORK_DIR=str(tmp_path / "work"))) as store:
        await store.upload(
            _clip(tmp_path / "combined.mp4", plan.final_frames, audio=False), combined_key
        )
        activities = PreviewActivities(store, tmp_path / "work")

        made = await ActivityEnvironment().run(
            activities.make_run_previews,
            RunPreviewsInput(
                session_id=SESSION,
                run=RUN,
                combined_key=combined_key,
                plan=plan,
                seam_captions=(("ssim 0.93 (inside 0.95)", "colour jump 2.1"),),
                run_captions=("black frames 0",),
            ),
        )

        assert made.poster_key == layout.preview_poster(RUN)
        assert made.contact_sheet_key == layout.preview_contact_sheet(RUN)
        await store.download(made.poster_key, tmp_path / "poster.jpg")
        await store.download(made.contact_sheet_key, tmp_path / "sheet.png")
    assert made.poster_frame == plan.final_frames // 2 == 80
    with Image.open(tmp_path / "poster.jpg") as poster:
        assert (poster.format, poster.size) == ("JPEG", (832, 480))
    # Two pairs in one row; 320x185 tiles; the position line plus at most two QC lines.
    tile = (320, 185)
    width = 2 * MARGIN + 2 * (2 * tile[0] + PAIR_GAP) + MARGIN
    height = 2 * MARGIN + LINE_HEIGHT + tile[1] + PAIR_GAP + 3 * LINE_HEIGHT
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert (sheet.format, sheet.size) == ("PNG", (width, height))
