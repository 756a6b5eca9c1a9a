"""The quality gate through the whole embedded stack: comfy-sim renders a defective segment
(its ``/sim/faults`` defects), the gate catches it, only that segment is rendered again, and
``result.json``, ``pipeline status`` and the previews say so; ``pipeline rerender`` makes a
second run that keeps the segments before the one named.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus

from pipeline.cli.sample import make_sample_image
from pipeline.config import Settings
from pipeline.domain.layout import SessionLayout
from pipeline.domain.quality import QualityThresholds
from pipeline.domain.records import ErrorRecord, SessionRecord
from pipeline.media import probe
from pipeline.media.quality import measure as measure_video
from pipeline.storage import sync_s3
from pipeline.temporal_client import connect
from tests.helpers import png, put_drop
from tests.integration.stack_support import embedded_stack, finished, pipeline_cli, queue_faults

pytestmark = pytest.mark.integration

SIZE = {"width": 256, "height": 144}
I2V = {"kind": "i2v", "image": "face.png", "extensions": 2, **SIZE}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    async with embedded_stack(
        tmp_path_factory.mktemp("quality-stack"),
        "quality-sessions",
    ) as settings:
        yield settings


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(stack: Settings) -> Client:
    return await connect(stack)


def textured(tmp_path: Path) -> bytes:
    """A picture with structure: comfy-sim's frames of a flat one barely move, and its
    defects (a freeze, an inverted jump) would then be invisible."""
    return make_sample_image(tmp_path / "sunset.png", SIZE["width"], SIZE["height"]).read_bytes()


async def run_drop(
    stack: Settings,
    client: Client,
    name: str,
    manifest: dict[str, Any],
    image: bytes | None = None,
) -> tuple[str, WorkflowExecutionStatus]:
    drop = put_drop(stack, name, manifest, {"face.png": image or png()})
    return drop.session_id, await finished(client, drop.workflow_id)


def result_of(stack: Settings, session_id: str) -> SessionRecord:
    body = sync_s3(stack).get_object(
        Bucket=stack.r2_bucket_name, Key=SessionLayout(session_id).result
    )["Body"]
    return SessionRecord.model_validate_json(body.read())


def download(stack: Settings, key: str, dest: Path) -> Path:
    sync_s3(stack).download_file(stack.r2_bucket_name, key, str(dest))
    return dest


@pytest.mark.parametrize(
    ("defect", "measure"),
    [("black", "black"), ("freeze", "frozen"), ("tint", "seam_colour"), ("jump", "seam_colour")],
)
async def test_a_defective_second_segment_is_rendered_again_alone_and_the_run_passes(
    stack: Settings, client: Client, tmp_path: Path, defect: str, measure: str
) -> None:
    await queue_faults(stack, {"kind": "none"}, {"kind": defect})
    session_id, status = await run_drop(stack, client, f"qc-{defect}", I2V, textured(tmp_path))

    assert status is WorkflowExecutionStatus.COMPLETED
    result = result_of(stack, session_id)
    assert result.quality is not None
    checks = [(r.segment.index, r.attempt, r.passed) for r in result.quality]
    assert checks == [(0, 0, True), (1, 0, False), (1, 1, True), (2, 0, True)]
    failed = result.quality[1]
    assert measure in {f.measure.value for f in failed.failures}
    assert result.quality[2].seam is not None  # the re-render's seam was measured again
    combined = download(stack, result.objects["combined"], tmp_path / "combined.mp4")
    whole = measure_video(
        combined,
        expected_frames=result.frames,
        fps=16,
        expect_audio=False,
        thresholds=QualityThresholds(),
    ).segment
    assert whole.frames == result.frames == 241
    assert whole.black_frames == 0
    assert {"preview_segment_000", "preview_segment_001", "preview_segment_002"} <= set(
        result.objects
    )
    assert {"preview_poster", "preview_contact_sheet"} <= set(result.objects)


async def test_a_still_portrait_is_not_flagged(
    stack: Settings, client: Client, tmp_path: Path
) -> None:
    session_id, status = await run_drop(stack, client, "qc-still", I2V)

    assert status is WorkflowExecutionStatus.COMPLETED
    result = result_of(stack, session_id)
    assert result.quality is not None
    assert [(r.segment.index, r.attempt, r.passed) for r in result.quality] == [
        (0, 0, True),
        (1, 0, True),
        (2, 0, True),
    ]
    preview = probe(download(stack, result.objects["preview_segment_001"], tmp_path / "p.mp4"))
    assert preview.frame_count == 81
    assert max(preview.width or 0, preview.height or 0) <= 320
    shown = await asyncio.to_thread(pipeline_cli, stack, "status", session_id, "--json")
    view = json.loads(shown.stdout)
    assert "preview_contact_sheet" in view["urls"]
    assert len(view["result"]["quality"]) == 3


async def test_under_report_a_failed_segment_is_kept_and_recorded(
    stack: Settings, client: Client
) -> None:
    await queue_faults(stack, {"kind": "black"})
    session_id, status = await run_drop(
        stack, client, "qc-report", {**I2V, "extensions": 0, "qc": "report"}
    )

    assert status is WorkflowExecutionStatus.COMPLETED
    result = result_of(stack, session_id)
    assert result.quality is not None
    [check] = result.quality
    assert (check.passed, check.attempt) == (False, 0)
    assert [f.measure.value for f in check.failures] == ["black"]


async def test_under_fail_the_session_fails_with_quality_failed(
    stack: Settings, client: Client, tmp_path: Path
) -> None:
    await queue_faults(stack, {"kind": "none"}, {"kind": "freeze", "frame": 20})
    session_id, status = await run_drop(
        stack, client, "qc-fail", {**I2V, "extensions": 1, "qc": "fail"}, textured(tmp_path)
    )

    assert status is WorkflowExecutionStatus.FAILED
    body = sync_s3(stack).get_object(
        Bucket=stack.r2_bucket_name, Key=SessionLayout(session_id).error
    )["Body"]
    error = ErrorRecord.model_validate_json(body.read())
    assert (error.code, error.retryable) == ("quality_failed", False)
    assert "segment 2" in error.message
    assert error.detail["segment"] == 2
    assert error.detail["measures"] == ["frozen"]


async def test_rerender_renders_from_the_segment_named_as_a_second_run(
    stack: Settings, client: Client
) -> None:
    session_id, status = await run_drop(stack, client, "qc-rerender", I2V)
    assert status is WorkflowExecutionStatus.COMPLETED
    first = result_of(stack, session_id)
    s3 = sync_s3(stack)

    def etag(key: str) -> str:
        return str(s3.head_object(Bucket=stack.r2_bucket_name, Key=key)["ETag"])

    before = {name: etag(key) for name, key in first.objects.items() if name.startswith("seg")}

    done = await asyncio.to_thread(
        pipeline_cli,
        stack,
        "rerender",
        session_id,
        "--segment",
        "2",
        "--set",
        "seed=7",
        "--wait",
        "--json",
    )

    assert done.returncode == 0, done.stderr[-2000:]
    second = result_of(stack, session_id)
    assert second.run != first.run
    assert [run.run for run in second.runs or []] == [first.run, second.run]
    assert second.manifest["seed"] == 7
    kept = {name: etag(key) for name, key in second.objects.items() if name.startswith("seg")}
    assert kept["segment_000"] == before["segment_000"]
    assert kept["segment_001"] != before["segment_001"]
    assert kept["segment_002"] != before["segment_002"]
    assert {name: etag(key) for name, key in first.objects.items() if name in before} == before
    assert second.quality is not None
    assert [r.segment.index for r in second.quality] == [1, 2]


async def test_rerender_refuses_what_it_cannot_do_in_one_line(stack: Settings) -> None:
    past = await asyncio.to_thread(
        pipeline_cli, stack, "rerender", "no-such-session-0000", "--segment", "1"
    )
    plan_field = await asyncio.to_thread(
        pipeline_cli, stack, "rerender", "x", "--segment", "1", "--set", "width=512"
    )

    assert past.returncode == 3
    assert past.stderr.strip().startswith("error: session no-such-session-0000 has no")
    assert plan_field.returncode == 2
    assert "may change only seed, prompt" in plan_field.stderr
