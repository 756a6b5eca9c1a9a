"""The separate_vocals activity against SeaweedFS, run by the SDK's activity environment."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import ffmpeg
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.separation import SeparationActivities
from pipeline.config import Settings
from pipeline.domain.contracts import SeparationInput, SeparationOutput
from pipeline.fleet.admission import Admission
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

MIX_KEY = "sessions/sep-test/prepared/mix.wav"
OWN_QUEUE = "gpu.worker.test"


def _settings(bucket: S3Bucket, work: Path, model: Path | None) -> Settings:
    return bucket.settings(
        PIPELINE_WORK_DIR=str(work),
        DEMUCS_MODEL_PATH=None if model is None else str(model),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def uploaded_mix(s3_bucket: S3Bucket, tmp_path: Path) -> AsyncIterator[str]:
    mix = tmp_path / "mix.wav"
    source = ffmpeg.input("aevalsrc=0.4*sin(2*PI*440*t):s=44100:d=0.5:c=stereo", f="lavfi")
    source.output(str(mix)).overwrite_output().run(quiet=True)
    async with ObjectStore(_settings(s3_bucket, tmp_path, None)) as store:
        await store.upload(mix, MIX_KEY)
    yield MIX_KEY


async def _separate(
    settings: Settings,
    audio_key: str,
    task_queue: str = "gpu.wan22-s2v-fp8",
    admission: Admission | None = None,
) -> SeparationOutput:
    async with ObjectStore(settings) as store:
        admission = admission or Admission(OWN_QUEUE)
        activities = SeparationActivities(store, settings, admission)
        request = SeparationInput(session_id="sep-test", audio_key=audio_key)
        environment = ActivityEnvironment()
        environment.info = dataclasses.replace(environment.info, task_queue=task_queue)
        return await environment.run(activities.separate_vocals, request)


@pytest.mark.parametrize("task_queue", [OWN_QUEUE, "gpu.wan22-s2v-fp8.separation"])
async def test_a_worker_that_cannot_separate_sends_the_task_elsewhere_and_stops_polling_for_it(
    s3_bucket: S3Bucket, tmp_path: Path, uploaded_mix: str, task_queue: str
) -> None:
    admission = Admission(OWN_QUEUE)
    await admission.set_separation("demucs: htdemucs.safetensors")
    settings = _settings(s3_bucket, tmp_path, tmp_path / "vanished.safetensors")

    with pytest.raises(ApplicationError) as caught:
        await _separate(settings, uploaded_mix, task_queue, admission)

    assert caught.value.type == "separation_elsewhere"
    assert "vanished.safetensors is not a file" in caught.value.message
    assert not admission.separates
    assert admission.separation.startswith("unavailable: DEMUCS_MODEL_PATH")


async def test_unset_model_path_fails_non_retryably_naming_the_variable(
    s3_bucket: S3Bucket, tmp_path: Path, uploaded_mix: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await _separate(_settings(s3_bucket, tmp_path, None), uploaded_mix)

    assert caught.value.type == "separation_unavailable"
    assert caught.value.non_retryable
    assert "DEMUCS_MODEL_PATH is not set" in caught.value.message


async def test_worker_without_the_extra_says_what_to_install(
    s3_bucket: S3Bucket, tmp_path: Path, uploaded_mix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "htdemucs.safetensors"
    model.write_bytes(b"\x00")
    # A None entry makes the import fail as on a worker where demucs is not installed.
    monkeypatch.setitem(sys.modules, "demucs.hf", None)

    with pytest.raises(ApplicationError) as caught:
        await _separate(_settings(s3_bucket, tmp_path, model), uploaded_mix)

    assert caught.value.non_retryable
    assert "wan-pipeline[separation]" in caught.value.message


async def test_vocals_are_separated_and_stored_beside_the_mix(
    s3_bucket: S3Bucket, tmp_path: Path, uploaded_mix: str
) -> None:
    pytest.importorskip("torch", reason="vocal separation needs the 'separation' extra")
    from pipeline.standins.tiny_demucs import build_tiny_htdemucs, save_safetensors

    model = save_safetensors(build_tiny_htdemucs(), tmp_path / "tiny.safetensors")
    settings = _settings(s3_bucket, tmp_path / "work", model)

    result = await _separate(settings, uploaded_mix)

    assert result.gpu_s is not None  # its GPU turn, for the run's cost
    assert result.gpu_s > 0
    assert result.model_copy(update={"gpu_s": None}) == SeparationOutput(
        vocals_key="sessions/sep-test/prepared/vocals.wav",
        sample_rate=44_100,
        duration_s=0.5,
        device="cpu",
        worker_task_queue="gpu.worker.test",
    )
    async with ObjectStore(settings) as store:
        await store.download(result.vocals_key, tmp_path / "vocals.wav")
    stream = ffmpeg.probe(str(tmp_path / "vocals.wav"))["streams"][0]
    assert (stream["sample_rate"], float(stream["duration"])) == ("44100", 0.5)
    assert list((tmp_path / "work").iterdir()) == []


async def test_the_embedded_stand_in_is_labelled_in_what_it_makes_and_announces(
    s3_bucket: S3Bucket, tmp_path: Path, uploaded_mix: str
) -> None:
    pytest.importorskip("torch", reason="vocal separation needs the 'separation' extra")
    from pipeline.standins.tiny_demucs import STAND_IN_LABEL, ensure_stand_in

    model = ensure_stand_in(tmp_path / "models")
    assert model is not None
    assert ensure_stand_in(tmp_path / "models") == model  # built once, at first start
    settings = _settings(s3_bucket, tmp_path / "work", model)

    result = await _separate(settings, uploaded_mix)

    assert result.stand_in == STAND_IN_LABEL
    async with ObjectStore(settings) as store:
        assert (
            SeparationActivities(store, settings, Admission("gpu.worker.test")).capability()
            == f"stand-in: {STAND_IN_LABEL}"
        )


async def test_a_worker_announces_why_it_cannot_separate(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    missing = _settings(s3_bucket, tmp_path, tmp_path / "absent.safetensors")
    async with ObjectStore(missing) as store:
        capability = SeparationActivities(store, missing, Admission("gpu.worker.test")).capability()
    assert capability.startswith("unavailable: DEMUCS_MODEL_PATH")
    assert capability.endswith("absent.safetensors is not a file on this worker")
