"""``sign_outputs`` against SeaweedFS, run by the SDK's activity environment: the objects are
signed in place, their manifests name the inputs and the preset's models, and a retry
neither stacks a second manifest nor fails."""

from __future__ import annotations

import hashlib
from pathlib import Path

import ffmpeg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.provenance import ProvenanceActivities
from pipeline.config import load_settings
from pipeline.domain.contracts import SignOutputsInput
from pipeline.domain.layout import SessionLayout
from pipeline.domain.provenance import INGREDIENT_SHA256, ModelFile
from pipeline.provenance.credentials import ensure_development_credential, load_credential
from pipeline.provenance.verify import Status, verify_file
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket
from tests.helpers import png

pytestmark = pytest.mark.integration

SESSION = "provenance-test"
RUN = "r1"
MODELS = {"p": (ModelFile(file="diffusion_models/m.safetensors", sha256="a" * 64),)}


def _clip(path: Path) -> Path:
    video = ffmpeg.input("testsrc2=s=160x96:r=16:d=1", f="lavfi").video
    ffmpeg.output(video, str(path), vcodec="libx264", pix_fmt="yuv420p").run(quiet=True)
    return path


async def test_outputs_are_signed_in_place_once_whatever_the_retries(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    dev = ensure_development_credential(tmp_path / "state")
    credential = load_credential(
        load_settings(SIGNING_CERT_PATH=str(dev.cert_path), SIGNING_KEY_PATH=str(dev.key_path))
    )
    layout = SessionLayout(SESSION)
    image = png(64, 48)
    request = SignOutputsInput(
        session_id=SESSION,
        run=RUN,
        kind="i2v",
        preset="p",
        seed=11,
        steps=4,
        inputs={"image": layout.input("face.png")},
        objects={"combined": layout.combined(RUN), "segment_000": layout.segment(RUN, 0)},
    )
    async with ObjectStore(s3_bucket.settings(PIPELINE_WORK_DIR=str(tmp_path / "work"))) as store:
        await store.put_bytes(layout.input("face.png"), image, "image/png")
        for name, key in request.objects.items():
            await store.upload(_clip(tmp_path / f"{name}.mp4"), key, "video/mp4")
        activities = ProvenanceActivities(store, tmp_path / "work", credential, MODELS)

        first = await ActivityEnvironment().run(activities.sign_outputs, request)
        await store.download(layout.combined(RUN), tmp_path / "once.mp4")
        again = await ActivityEnvironment().run(activities.sign_outputs, request)
        await store.download(layout.combined(RUN), tmp_path / "twice.mp4")

    assert first.provenance is not None
    assert first.provenance.development
    assert first == again  # the retry found them signed and left them
    assert (tmp_path / "once.mp4").read_bytes() == (tmp_path / "twice.mp4").read_bytes()
    result = verify_file(tmp_path / "twice.mp4", dev.ca_path.read_text())
    assert result.status is Status.TRUSTED, result.failures
    assert result.label == first.provenance.objects["combined"].manifest
    [ingredient] = result.ingredients
    assert ingredient["metadata"][INGREDIENT_SHA256] == hashlib.sha256(image).hexdigest()
    assert result.render is not None
    assert result.render["models"] == [m.model_dump() for m in MODELS["p"]]
    assert result.render["seed"] == 11
    assert not list((tmp_path / "work").iterdir())


async def test_with_signing_off_nothing_is_signed(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    async with ObjectStore(s3_bucket.settings()) as store:
        activities = ProvenanceActivities(store, tmp_path / "work", None, {})
        signed = await ActivityEnvironment().run(
            activities.sign_outputs,
            SignOutputsInput(
                session_id=SESSION, run=RUN, kind="i2v", preset="p", seed=1, inputs={}, objects={}
            ),
        )
    assert signed.provenance is None
