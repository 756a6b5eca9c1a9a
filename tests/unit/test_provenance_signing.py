"""Signing outputs with C2PA and verifying them (pipeline.provenance), with real ffmpeg clips
and the real c2pa-python SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import c2pa
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pipeline.config import load_settings
from pipeline.domain.errors import ConfigError
from pipeline.domain.provenance import RENDER_ASSERTION, ProvenanceFacts, manifest_definition
from pipeline.provenance.credentials import (
    DevelopmentCredential,
    SigningCredential,
    ensure_development_credential,
    key_signer,
    load_credential,
)
from pipeline.provenance.signing import sign_file, signed_label
from pipeline.provenance.verify import Status, verify_file
from pipeline.stack.embedded import private_settings, stack_config_for

pytestmark = pytest.mark.slow

FACTS = ProvenanceFacts(
    generator="wan-pipeline", version="0.1.0", kind="i2v", preset="p", seed=3, steps=4
)
HOOK_KEY: list[ec.EllipticCurvePrivateKey] = []


def hook(data: bytes) -> bytes:
    """A signer hook standing in for a KMS: signs with the key the test put here."""
    return key_signer(HOOK_KEY[0], "es256")(data)


def broken_hook(data: bytes) -> bytes:
    raise RuntimeError("kms unreachable")


def _clip(path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", "-c:v", "libx264",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def _streams(path: Path) -> Any:
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    packets = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0", "-c", "copy", "-f", "streamhash",
         "-"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(probe.stdout)["streams"], packets.stdout


@pytest.fixture
def dev(tmp_path: Path) -> DevelopmentCredential:
    return ensure_development_credential(tmp_path / "state")


@pytest.fixture
def credential(dev: DevelopmentCredential) -> SigningCredential:
    loaded = load_credential(
        load_settings(SIGNING_CERT_PATH=str(dev.cert_path), SIGNING_KEY_PATH=str(dev.key_path))
    )
    assert loaded is not None
    return loaded


@pytest.fixture
def signed(tmp_path: Path, credential: SigningCredential) -> Path:
    clip, out = _clip(tmp_path / "clip.mp4"), tmp_path / "combined.mp4"
    definition = manifest_definition(FACTS, title="combined.mp4", mime="video/mp4")
    sign_file(clip, out, definition=definition, credential=credential)
    return out


def test_a_signed_clip_verifies_against_the_development_ca(
    signed: Path, dev: DevelopmentCredential, credential: SigningCredential
) -> None:
    result = verify_file(signed, dev.ca_path.read_text())

    assert result.status is Status.TRUSTED, result.failures
    assert credential.development
    assert "wan-pipeline development" in credential.subject
    assert result.render is not None
    assert result.render["preset"] == "p"
    assert result.signer["issuer"] == "wan-pipeline development"
    assert signed_label(signed) == result.label
    # c2pa's own Reader agrees, without our wrapper.
    with signed.open("rb") as src, c2pa.Reader("video/mp4", src) as reader:
        assert RENDER_ASSERTION in reader.json()


def test_the_signed_clip_plays_the_same_streams(tmp_path: Path, signed: Path) -> None:
    assert _streams(signed) == _streams(tmp_path / "clip.mp4")


def test_an_untrusted_anchor_leaves_it_valid_but_untrusted(tmp_path: Path, signed: Path) -> None:
    other = ensure_development_credential(tmp_path / "other")

    result = verify_file(signed, other.ca_path.read_text())

    assert result.status is Status.UNTRUSTED
    assert any(f.startswith("signingCredential.untrusted") for f in result.failures)


def test_a_remux_loses_the_manifest(
    tmp_path: Path, signed: Path, dev: DevelopmentCredential
) -> None:
    remuxed = tmp_path / "remuxed.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(signed), "-c", "copy", str(remuxed)], check=True
    )

    assert verify_file(remuxed, dev.ca_path.read_text()).status in (Status.MISSING, Status.INVALID)
    assert signed_label(remuxed) is None


def test_an_edited_mdat_byte_breaks_the_hard_binding(
    tmp_path: Path, signed: Path, dev: DevelopmentCredential
) -> None:
    data = bytearray(signed.read_bytes())
    at = data.index(b"mdat") + 64
    data[at] ^= 0xFF
    edited = tmp_path / "edited.mp4"
    edited.write_bytes(bytes(data))

    result = verify_file(edited, dev.ca_path.read_text())

    assert result.status is Status.INVALID
    assert any("mismatch" in f for f in result.failures), result.failures
    assert signed_label(edited) is None


def test_a_poster_jpeg_is_signed_too(
    tmp_path: Path, credential: SigningCredential, dev: DevelopmentCredential
) -> None:
    poster, out = tmp_path / "poster.jpg", tmp_path / "signed.jpg"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "smptebars=s=160x120", "-frames:v",
         "1", str(poster)],
        check=True,
    )  # fmt: skip
    definition = manifest_definition(FACTS, title="poster.jpg", mime="image/jpeg")

    sign_file(poster, out, definition=definition, credential=credential)

    assert verify_file(out, dev.ca_path.read_text()).status is Status.TRUSTED


def test_a_signer_hook_signs_like_the_key(tmp_path: Path, dev: DevelopmentCredential) -> None:
    key = serialization.load_pem_private_key(dev.key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    HOOK_KEY[:] = [key]
    settings = load_settings(SIGNING_CERT_PATH=str(dev.cert_path), SIGNING_HOOK=f"{__name__}:hook")
    loaded = load_credential(settings)
    assert loaded is not None
    out = tmp_path / "hooked.mp4"

    sign_file(
        _clip(tmp_path / "c.mp4"),
        out,
        definition=manifest_definition(FACTS, title="c.mp4", mime="video/mp4"),
        credential=loaded,
    )

    assert verify_file(out, dev.ca_path.read_text()).status is Status.TRUSTED


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SIGNING_CERT_PATH": "{dir}/missing.pem", "SIGNING_KEY_PATH": "{key}"}, "cannot read"),
        ({"SIGNING_CERT_PATH": "{cert}", "SIGNING_KEY_PATH": "{other_key}"}, "does not sign"),
        ({"SIGNING_CERT_PATH": "{cert}", "SIGNING_HOOK": "no_such_module:sign"}, "cannot load"),
        (
            {"SIGNING_CERT_PATH": "{cert}", "SIGNING_HOOK": f"{__name__}:broken_hook"},
            "kms unreachable",
        ),
        ({"SIGNING_CERT_PATH": "{key}", "SIGNING_KEY_PATH": "{key}"}, "no PEM certificate"),
        ({}, "no credential is configured"),
    ],
)
def test_misconfigured_signing_is_one_config_error(
    tmp_path: Path, dev: DevelopmentCredential, variables: dict[str, str], message: str
) -> None:
    other = ensure_development_credential(tmp_path / "other")
    names = {
        "dir": tmp_path,
        "cert": dev.cert_path,
        "key": dev.key_path,
        "other_key": other.key_path,
    }
    settings = load_settings(**{k: v.format(**names) for k, v in variables.items()})

    with pytest.raises(ConfigError, match=message) as raised:
        load_credential(settings)
    assert "\n" not in str(raised.value)


def test_signing_off_needs_no_credential() -> None:
    assert load_credential(load_settings(SIGNING="off")) is None


def test_the_development_credential_is_made_once(tmp_path: Path) -> None:
    first = ensure_development_credential(tmp_path)
    chain = first.cert_path.read_bytes()

    again = ensure_development_credential(tmp_path)

    assert again.cert_path.read_bytes() == chain
    assert first.key_path.stat().st_mode & 0o077 == 0


def _verify_cli(target: Path, anchors: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIPELINE_STATE_DIR": str(target.parent / "no-stack")}
    if anchors is not None:
        env["SIGNING_TRUST_ANCHORS_PATH"] = str(anchors)
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "verify", str(target), *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_pipeline_verify_exit_codes(
    tmp_path: Path, signed: Path, dev: DevelopmentCredential
) -> None:
    other = ensure_development_credential(tmp_path / "other")
    edited = tmp_path / "edited.mp4"
    data = bytearray(signed.read_bytes())
    data[data.index(b"mdat") + 64] ^= 0xFF
    edited.write_bytes(bytes(data))

    trusted = _verify_cli(signed, dev.ca_path, "--json")
    untrusted = _verify_cli(signed, other.ca_path)
    tampered = _verify_cli(edited, dev.ca_path)
    bad_anchors = _verify_cli(signed, tmp_path / "missing.pem")

    assert trusted.returncode == 0, trusted.stderr
    report = json.loads(trusted.stdout)
    assert report["status"] == "trusted"
    assert report[RENDER_ASSERTION]["seed"] == 3
    assert untrusted.returncode == 3
    assert "untrusted" in untrusted.stdout
    assert tampered.returncode == 1
    assert "invalid" in tampered.stdout
    assert bad_anchors.returncode == 2
    assert bad_anchors.stderr.count("\n") == 1
    assert bad_anchors.stderr.startswith("error: SIGNING_TRUST_ANCHORS_PATH")


def test_a_worker_with_misconfigured_signing_stops_at_start_with_one_line(
    tmp_path: Path, dev: DevelopmentCredential
) -> None:
    other = ensure_development_credential(tmp_path / "other")
    env = {
        **os.environ,
        "R2_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing is reached: it stops before
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
        "SIGNING_CERT_PATH": str(dev.cert_path),
        "SIGNING_KEY_PATH": str(other.key_path),
        "PIPELINE_WORK_DIR": str(tmp_path / "work"),
    }
    unconfigured = {k: v for k, v in env.items() if not k.startswith("SIGNING_")}

    for variables, said in ((env, "does not sign"), (unconfigured, "no credential")):
        ran = subprocess.run(
            [sys.executable, "-m", "pipeline", "worker", "cpu"],
            env=variables, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert ran.returncode == 2, ran.stderr
        assert ran.stderr.startswith("error: ")
        assert said in ran.stderr
        assert ran.stderr.count("\n") == 1


def test_pipeline_up_refuses_a_misconfigured_credential_before_starting(
    tmp_path: Path, dev: DevelopmentCredential
) -> None:
    other = ensure_development_credential(tmp_path / "other")
    settings = private_settings(
        tmp_path / "stack",
        SIGNING_CERT_PATH=str(dev.cert_path),
        SIGNING_KEY_PATH=str(other.key_path),
    )

    with pytest.raises(ConfigError, match="does not sign"):
        stack_config_for(settings)


def test_the_embedded_stack_signs_with_its_development_credential(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "stack")

    [cpu] = [c for c in stack_config_for(settings).children if c.name == "worker-cpu"]

    assert cpu.env["SIGNING_CERT_PATH"] == str(tmp_path / "stack" / "signing" / "chain.pem")
    assert cpu.env["SIGNING_TRUST_ANCHORS_PATH"] == str(tmp_path / "stack" / "signing" / "ca.pem")
    credential = load_credential(settings)
    assert credential is not None
    assert credential.development
