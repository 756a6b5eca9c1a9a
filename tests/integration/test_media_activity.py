"""prepare_audio and plan_frames against SeaweedFS, run by the SDK's activity environment:
the default audio track drives the video, plan.json says which, silent speech is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.media import MediaActivities
from activities.records import RecordActivities
from pipeline.domain.contracts import PlanInput, PrepareAudioInput, PreparedAudio
from pipeline.domain.layout import SessionLayout
from pipeline.domain.manifest import Manifest
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket
from tests.helpers import SPEECH_LIKE, audio_tracks

pytestmark = pytest.mark.integration


async def _prepare(
    bucket: S3Bucket, work: Path, source: Path, session_id: str, **manifest: Any
) -> tuple[PreparedAudio, dict[str, Any]]:
    """Upload ``source`` as the session's input, prepare it and plan: the result and plan.json."""
    key = SessionLayout(session_id).input(source.name)
    drop = Manifest.model_validate({"image": "face.png", "audio": source.name, **manifest})
    async with ObjectStore(bucket.settings(PIPELINE_WORK_DIR=str(work))) as store:
        await store.upload(source, key)
        environment = ActivityEnvironment()
        prepared = await environment.run(
            MediaActivities(store, work).prepare_audio,
            PrepareAudioInput(session_id=session_id, audio_key=key, manifest=drop),
        )
        await environment.run(
            RecordActivities(store).plan_frames,
            PlanInput(
                session_id=session_id,
                manifest=drop,
                audio_s=prepared.duration_s,
                audio=prepared,
            ),
        )
        plan = await store.get_json(SessionLayout(session_id).plan)
    assert isinstance(plan, dict)
    return prepared, plan


async def test_the_default_track_drives_the_video_and_plan_json_says_which(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    source = audio_tracks(tmp_path / "interview.mkv", [None, SPEECH_LIKE], default=1)

    prepared, plan = await _prepare(s3_bucket, tmp_path, source, "tracks-default", kind="s2v")

    assert prepared.track is not None
    assert (prepared.track.index, prepared.track.tracks, prepared.track.reason) == (
        1,
        2,
        "default",
    )
    assert not prepared.silent
    assert plan["audio"]["track"] == {
        "index": 1,
        "stream": 1,
        "tracks": 2,
        "reason": "default",
        "language": None,
        "title": None,
    }
    assert plan["audio"]["peak_db"] > -9.0


@pytest.mark.parametrize("kind", ["s2v", "infinitetalk"])
async def test_silent_audio_for_a_speech_kind_is_refused_for_good(
    s3_bucket: S3Bucket, tmp_path: Path, kind: str
) -> None:
    source = audio_tracks(tmp_path / "voice.mka", [SPEECH_LIKE, None], default=1)

    with pytest.raises(ApplicationError) as caught:
        await _prepare(s3_bucket, tmp_path, source, f"silent-{kind}", kind=kind)

    assert (caught.value.type, caught.value.non_retryable) == ("silent_audio", True)
    message = caught.value.message
    assert message.startswith("voice.mka (audio track 2 of 2, the default one) is silent")
    assert f"kind {kind!r}" in message
    assert '"allow_silent_audio": true' in message


async def test_a_manifest_that_allows_silence_renders_it(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    source = audio_tracks(tmp_path / "pause.mka", [None], default=0)

    prepared, plan = await _prepare(
        s3_bucket, tmp_path, source, "silent-allowed", kind="infinitetalk", allow_silent_audio=True
    )

    assert prepared.silent
    assert prepared.peak_db is None
    assert plan["audio"]["silent"] is True
