"""Drops through the whole embedded stack, exactly as `pipeline up` runs it.

Real Temporal dev server, SeaweedFS (S3, with its filer's metadata stream as events), comfy-sim,
and the workers and ingest consumer as separate `pipeline` processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from PIL import Image
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from pipeline.config import Settings
from pipeline.domain.frames.rules import S2V_CHUNKS_PER_PROMPT
from pipeline.domain.layout import SessionLayout
from pipeline.domain.records import ErrorRecord, SessionRecord
from pipeline.media import probe
from pipeline.stack.embedded import (
    cpu_worker_polls,
    gpu_worker_polls,
)
from pipeline.standins.tiny_demucs import STAND_IN_LABEL
from pipeline.storage import sync_s3
from pipeline.temporal_client import connect
from tests.helpers import SPEECH_LIKE, audio_tracks, eventually, executions, png_bytes, put_drop
from tests.integration.stack_support import (
    assert_trimmed_to_the_audio,
    embedded_stack,
    finished,
    frame_numbers,
    pipeline_cli,
    run_audio_drop,
    sample_image,
    tone,
)

pytestmark = pytest.mark.integration

HISTORIES = Path(__file__).parents[1] / "replay" / "histories" / "session"
SIZE = {"width": 256, "height": 144}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    # No DEMUCS_MODEL_PATH: the embedded stack separates with its stand-in, as `pipeline up`.
    async with embedded_stack(
        tmp_path_factory.mktemp("e2e-stack"),
        "e2e-sessions",
        MEDIA_GRACE_S="8",
    ) as settings:
        yield settings


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(stack: Settings) -> Client:
    return await connect(stack)


def keys_under(settings: Settings, prefix: str) -> set[str]:
    listing = sync_s3(settings).list_objects_v2(Bucket=settings.r2_bucket_name, Prefix=prefix)
    return {item["Key"] for item in listing.get("Contents", [])}


async def record_history(client: Client, workflow_id: str, case: str) -> None:
    """Refresh the committed replay histories: PIPELINE_RECORD_HISTORIES=1 pytest ..."""
    if os.environ.get("PIPELINE_RECORD_HISTORIES") != "1":
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    HISTORIES.mkdir(parents=True, exist_ok=True)
    (HISTORIES / f"{case}.json").write_text(history.to_json())


async def test_the_stack_is_ready_with_both_workers_polling(stack: Settings) -> None:
    """What ``Stack.start`` waits for: polls since the workers started, not stale pollers."""
    a_while_ago = datetime.now(UTC) - timedelta(minutes=30)
    later = datetime.now(UTC) + timedelta(hours=1)

    assert await cpu_worker_polls(stack)(a_while_ago)
    assert await gpu_worker_polls(stack)(a_while_ago)
    assert not await cpu_worker_polls(stack)(later)
    assert not await gpu_worker_polls(stack)(later)


async def test_cli_drop_runs_to_a_stitched_video_with_every_artifact(
    stack: Settings, client: Client, tmp_path: Path
) -> None:
    image = sample_image(tmp_path / "portrait.png")
    done = await asyncio.to_thread(
        pipeline_cli,
        stack,
        "drop",
        str(image),
        "--set",
        "width=256",
        "--set",
        "height=144",
        "--set",
        "extensions=1",
        "--set",
        "prompt=a slow smile",
        "--wait",
        "--json",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    status = json.loads(done.stdout)
    assert status["status"] == "succeeded"
    session_id = status["session_id"]
    layout = SessionLayout(session_id)
    result = SessionRecord.model_validate(status["result"])
    run = result.run
    plan = json.loads(
        sync_s3(stack).get_object(Bucket=stack.r2_bucket_name, Key=layout.plan)["Body"].read()
    )

    assert keys_under(stack, layout.root) == {
        layout.manifest,
        layout.input("portrait.png"),
        layout.prepared_image,
        layout.plan,
        layout.segment(run, 0),
        layout.segment(run, 1),
        layout.segment_last_frame(run, 0),
        layout.quality(run, 0),
        layout.quality(run, 1),
        layout.quality_tail(run, 0),
        layout.quality_tail(run, 1),
        layout.preview_segment(run, 0),
        layout.preview_segment(run, 1),
        layout.combined(run),
        layout.preview_poster(run),
        layout.preview_contact_sheet(run),
        layout.generation(run) + "plan.json",
        layout.result,
    }
    assert keys_under(stack, "inbox/") == set()
    assert await executions(client, "session-" + session_id) == 1

    combined = tmp_path / "combined.mp4"
    sync_s3(stack).download_file(stack.r2_bucket_name, layout.combined(run), str(combined))
    info = probe(combined)
    assert info.frame_count == plan["total_frames"] == 81 + 80 == result.frames
    assert (info.width, info.height) == (256, 144)
    # A picture taller than 16:9 is cropped near its top (faces), and plan.json says how.
    assert (plan["image"]["fit"], plan["image"]["crop"]) == ("cover", [0, 4, 320, 184])
    assert frame_numbers(combined, tmp_path / "frames") == list(range(plan["total_frames"]))
    # Signed in place (C2PA), and `pipeline verify SESSION` trusts the stack's development CA.
    assert result.provenance is not None
    assert result.provenance.development
    assert set(result.provenance.objects) == {
        "combined",
        "segment_000",
        "segment_001",
        "preview_poster",
    }
    verified = await asyncio.to_thread(pipeline_cli, stack, "verify", session_id, "--json")
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
    report = json.loads(verified.stdout)
    assert report["manifest"] == result.provenance.objects["combined"].manifest
    assert report["org.wan-pipeline.render"]["credential"] == "development"

    async with httpx.AsyncClient() as http:
        for name, url in status["urls"].items():
            assert (await http.get(url)).status_code == 200, name
    assert set(result.timings_s) >= {"take_drop", "generate_segment", "stitch"}
    # Every GPU render is on record with where and how it ran.
    assert [(r.index, r.attempt, r.key) for r in result.renders] == [
        (0, 0, layout.segment(run, 0)),
        (1, 0, layout.segment(run, 1)),
    ]
    renderings = [r.rendering for r in result.renders if r.rendering is not None]
    assert len(renderings) == 2
    assert len({r.graph_sha256 for r in renderings}) == 2  # a different prompt per segment
    assert all(r.gpu_s > 0 and r.worker and r.device for r in renderings)
    await record_history(client, "session-" + session_id, "i2v_one_extension")


async def test_a_manifest_put_three_times_starts_one_session(
    stack: Settings, client: Client
) -> None:
    media = {"still.png": png_bytes(Image.new("RGB", (256, 160), (200, 90, 40)))}
    manifest = {"kind": "i2v", "image": "still.png", **SIZE}
    drop = put_drop(stack, "triple", manifest, media, manifest_puts=3)
    assert await finished(client, drop.workflow_id) is WorkflowExecutionStatus.COMPLETED
    assert await executions(client, drop.workflow_id) == 1
    assert SessionLayout(drop.session_id).result in keys_under(stack, "sessions/")


async def test_a_manifest_naming_a_missing_image_fails_once_with_error_json(
    stack: Settings, client: Client
) -> None:
    manifest = {"kind": "i2v", "image": "nowhere.png", **SIZE}
    drop = put_drop(stack, "missing-image", manifest, {})
    assert await finished(client, drop.workflow_id) is WorkflowExecutionStatus.FAILED

    layout = SessionLayout(drop.session_id)
    error = ErrorRecord.model_validate_json(
        sync_s3(stack).get_object(Bucket=stack.r2_bucket_name, Key=layout.error)["Body"].read()
    )
    assert error.code == "missing_media"
    assert error.stage == "taking_drop"
    assert "image 'nowhere.png'" in error.message
    assert "upload the media, then the manifest again" in error.message
    assert error.retryable is False

    history = await client.get_workflow_handle(drop.workflow_id).fetch_history()
    started = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    # Taken once while the media may still arrive, once after MEDIA_GRACE_S, then the
    # failure recorded: each once, never retried; the callback goes to its own workflow.
    assert [e.activity_task_started_event_attributes.attempt for e in started] == [1, 1, 1]
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    assert children == ["CallbackWorkflow"]
    assert keys_under(stack, f"inbox/{drop.manifest_key.split('/')[1]}/") == set()
    await record_history(client, drop.workflow_id, "missing_image")


async def test_a_manifest_uploaded_before_its_audio_waits_for_it_and_runs(
    stack: Settings, client: Client, tmp_path: Path
) -> None:
    """`aws s3 sync` and `rclone copy` upload in parallel: the small manifest lands first."""
    manifest = {"kind": "s2v", "image": "face.png", "audio": "voice.wav", **SIZE}
    manifest["separate_vocals"] = False
    image = {"face.png": png_bytes(Image.new("RGB", (256, 160), (200, 90, 40)))}
    drop = put_drop(stack, "parallel-upload", manifest, image)

    async def waiting() -> bool:
        done = await asyncio.to_thread(pipeline_cli, stack, "status", drop.session_id, "--json")
        return done.returncode == 0 and json.loads(done.stdout)["stage"] == (
            "waiting for 'voice.wav'; the drop folder holds 'face.png'"
        )

    await eventually(waiting, within_s=60)
    sync_s3(stack).upload_file(
        str(tone(tmp_path / "voice.wav", 2.0)),
        stack.r2_bucket_name,
        "inbox/parallel-upload/voice.wav",
    )
    assert await finished(client, drop.workflow_id) is WorkflowExecutionStatus.COMPLETED
    assert keys_under(stack, "inbox/parallel-upload/") == set()


async def test_a_corrupt_audio_file_fails_with_a_clear_message_in_status(
    stack: Settings, client: Client
) -> None:
    manifest = {"kind": "infinitetalk", "image": "face.png", "audio": "voice.wav", **SIZE}
    drop = put_drop(
        stack,
        "talk",
        manifest,
        {"face.png": png_bytes(Image.new("RGB", (256, 160))), "voice.wav": b"RIFF"},
    )
    assert await finished(client, drop.workflow_id) is WorkflowExecutionStatus.FAILED
    status = await asyncio.to_thread(pipeline_cli, stack, "status", drop.session_id, "--json")
    view = json.loads(status.stdout)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "bad_media"
    assert view["error"]["stage"] == "preparing_audio"
    assert "voice.wav" in view["error"]["message"]
    async with httpx.AsyncClient() as http:
        assert (await http.get(view["urls"]["error"])).status_code == 200


async def test_a_speech_drop_whose_default_track_is_silent_fails_as_silent_audio(
    stack: Settings, client: Client, tmp_path: Path
) -> None:
    # The first track speaks, but players play the second (the default), which is silent.
    voice = audio_tracks(tmp_path / "voice.mka", [SPEECH_LIKE, None], default=1)
    manifest = {"kind": "s2v", "image": "face.png", "audio": "voice.mka", **SIZE}
    drop = put_drop(
        stack,
        "silent-talk",
        manifest,
        {"face.png": png_bytes(Image.new("RGB", (256, 160))), "voice.mka": voice.read_bytes()},
    )
    assert await finished(client, drop.workflow_id) is WorkflowExecutionStatus.FAILED
    status = await asyncio.to_thread(pipeline_cli, stack, "status", drop.session_id, "--json")
    view = json.loads(status.stdout)
    assert (view["error"]["code"], view["error"]["stage"]) == ("silent_audio", "preparing_audio")
    body = sync_s3(stack).get_object(
        Bucket=stack.r2_bucket_name, Key=SessionLayout(drop.session_id).error
    )["Body"]
    record = ErrorRecord.model_validate_json(body.read())
    assert (record.code, record.retryable) == ("silent_audio", False)
    assert "voice.mka (audio track 2 of 2, the default one) is silent" in record.message
    assert '"allow_silent_audio": true' in record.message


async def test_infinitetalk_drop_separates_vocals_and_trims_to_the_audio(
    stack: Settings, client: Client, tmp_path: Path
) -> None:
    pytest.importorskip("torch", reason="vocal separation needs the 'separation' extra")
    status, combined = await run_audio_drop(stack, tmp_path, "infinitetalk", 3.5)
    keys = set(status["result"]["objects"].values())
    layout = SessionLayout(status["session_id"])
    assert {layout.prepared_audio, layout.vocals, layout.drive_audio} <= keys_under(
        stack, layout.root
    )
    # result.json lists them too, each with a URL: what separation heard and what it kept.
    objects = status["result"]["objects"]
    assert {name: objects.get(name) for name in ("prepared_audio", "vocals", "drive_audio")} == {
        "prepared_audio": layout.prepared_audio,
        "vocals": layout.vocals,
        "drive_audio": layout.drive_audio,
    }
    assert {"prepared_audio", "vocals", "drive_audio"} <= set(status["urls"])
    plan = json.loads(sync_s3(stack).get_object(
        Bucket=stack.r2_bucket_name, Key=layout.plan)["Body"].read())  # fmt: skip
    assert plan["total_frames"] == 153
    # One prompt per 81-frame window; the second re-renders the first one's last 9 frames.
    assert [(s["length"], s["drop_leading"]) for s in plan["segments"]] == [(81, 0), (81, 9)]
    assert {"segment_000", "segment_001"} <= set(status["result"]["objects"])
    assert status["result"]["stand_ins"] == {"separating_vocals": STAND_IN_LABEL}
    assert plan["stand_ins"] == {"separating_vocals": STAND_IN_LABEL}
    assert combined.name in {k.rsplit("/", 1)[-1] for k in keys}
    assert_trimmed_to_the_audio(status, combined, tmp_path, fps=25, seconds=3.5)
    await record_history(client, "session-" + status["session_id"], "infinitetalk_separated")


async def test_s2v_drop_without_separation_plays_the_cropped_audio(
    stack: Settings, client: Client, tmp_path: Path
) -> None:
    status, combined = await run_audio_drop(
        stack, tmp_path, "s2v", 4.0,
        "--set", "separate_vocals=false", "--set", "audio_start=0:01", "--set", "audio_end=3.5",
    )  # fmt: skip
    layout = SessionLayout(status["session_id"])
    assert layout.vocals not in keys_under(stack, layout.root)
    assert "vocals" not in status["result"]["objects"]
    assert status["result"]["objects"]["drive_audio"] == layout.drive_audio
    assert_trimmed_to_the_audio(status, combined, tmp_path, fps=16, seconds=2.5)
    await record_history(client, "session-" + status["session_id"], "s2v_cropped_audio")


async def test_long_s2v_renders_segments_of_at_most_k_chunks_each_continuing_the_last(
    stack: Settings, tmp_path: Path
) -> None:
    """20 s of audio: 5 chunks, more than one prompt may hold (``S2V_CHUNKS_PER_PROMPT``)."""
    status, combined = await run_audio_drop(
        stack, tmp_path, "s2v", 20.0, "--set", "separate_vocals=false"
    )
    layout = SessionLayout(status["session_id"])
    plan = json.loads(sync_s3(stack).get_object(
        Bucket=stack.r2_bucket_name, Key=layout.plan)["Body"].read())  # fmt: skip
    assert plan["windows"]["count"] == 5
    assert plan["windows"]["chunks_per_segment"] == S2V_CHUNKS_PER_PROMPT == 3
    # The one-prompt plan's 5 x 80 - 3 frames, in two prompts: 3 chunks, then 2 more.
    assert [(s["length"], s["drop_leading"]) for s in plan["segments"]] == [(237, 0), (160, 0)]
    assert plan["total_frames"] == 397
    assert {"segment_000", "segment_001"} <= set(status["result"]["objects"])
    # The first segment's last 73 frames as decoded, which the second one continued.
    handed = [k for k in keys_under(stack, layout.root) if k.endswith("_motion.png")]
    assert [k.rsplit("/", 1)[-1] for k in handed] == ["segment_000_motion.png"]
    for index, frames in enumerate((237, 160)):
        segment = tmp_path / f"segment_{index}.mp4"
        sync_s3(stack).download_file(
            stack.r2_bucket_name, status["result"]["objects"][f"segment_{index:03d}"], str(segment)
        )
        info = probe(segment)
        assert info.frame_count == frames
        assert info.fps == 16
        assert abs((info.audio_duration_s or 0) - frames / 16) <= 1 / 16
    # Frames numbered 0..319 without a gap or repeat at the seam; A = V = 20 s at 16 fps.
    assert_trimmed_to_the_audio(status, combined, tmp_path, fps=16, seconds=20.0)


CASES = Path(__file__).parents[1] / "data" / "cases"


async def test_audio_named_like_a_scratch_file_is_the_users_audio(
    stack: Settings, tmp_path: Path
) -> None:
    audio = tmp_path / "audio.wav"
    shutil.copy(CASES / "audio.wav", audio)
    status, combined = await run_audio_drop(
        stack, tmp_path, "infinitetalk", 0, "--set", "separate_vocals=false", audio=audio
    )
    assert status["result"]["frames"] == 118
    assert_trimmed_to_the_audio(status, combined, tmp_path, fps=25, seconds=4.72)


async def test_a_crop_of_audio_muxed_with_an_offset_is_on_the_players_timeline(
    stack: Settings, tmp_path: Path
) -> None:
    audio = tmp_path / "offset_speech.m4a"
    shutil.copy(CASES / "offset_speech.m4a", audio)
    status, combined = await run_audio_drop(
        stack, tmp_path, "infinitetalk", 0, "--set", "separate_vocals=false",
        "--set", "audio_start=1", "--set", "audio_end=6.5", audio=audio,
    )  # fmt: skip
    assert_trimmed_to_the_audio(status, combined, tmp_path, fps=25, seconds=5.5)
