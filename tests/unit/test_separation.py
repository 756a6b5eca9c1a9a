"""Demucs loading and inference on tiny models the tests build; needs the separation extra."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg
import pytest

torch = pytest.importorskip(
    "torch", reason="vocal separation needs the 'separation' extra (torch, demucs)"
)
np = pytest.importorskip("numpy", reason="vocal separation needs the 'separation' extra")

from pipeline.domain.errors import SeparationUnavailable  # noqa: E402
from pipeline.media.separation import load_separator  # noqa: E402
from pipeline.standins.tiny_demucs import (  # noqa: E402
    build_tiny_htdemucs,
    save_bag,
    save_safetensors,
)

MIX = "0.4*sin(2*PI*440*t)+0.3*(random(0)-0.5)"
"""A tone plus noise: two sources an untrained model still maps to different outputs."""


# Every test here runs torch (and ffmpeg for the mixes).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_safetensors(
        build_tiny_htdemucs(), tmp_path_factory.mktemp("models") / "tiny.safetensors"
    )


def _mix(path: Path, seconds: float, *, rate: int = 44_100, layout: str = "stereo") -> Path:
    source = ffmpeg.input(f"aevalsrc={MIX}:s={rate}:d={seconds}:c={layout}", f="lavfi")
    source.output(str(path)).overwrite_output().run(quiet=True)
    return path


def _samples(path: Path, rate: int = 44_100) -> Any:
    raw, _ = (
        ffmpeg.input(str(path))
        .output("pipe:", format="f32le", ac=2, ar=rate)
        .run(capture_stdout=True, quiet=True)
    )
    return np.frombuffer(raw, dtype=np.float32).reshape(-1, 2)


def test_vocals_come_out_at_the_models_rate_and_the_mixs_length(
    tmp_path: Path, tiny_model: Path
) -> None:
    mix = _mix(tmp_path / "mix.wav", 1.0)
    separator = load_separator(tiny_model, device="cpu")

    separated = separator.separate(mix, tmp_path / "vocals.wav")

    stream = ffmpeg.probe(str(separated.path))["streams"][0]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == (
        "pcm_f32le", "44100", 2,
    )  # fmt: skip
    assert (separated.sample_rate, separated.channels, separated.device) == (44_100, 2, "cpu")
    vocals, original = _samples(separated.path), _samples(mix)
    assert vocals.shape == original.shape == (44_100, 2)
    assert np.isfinite(vocals).all()
    assert float(np.abs(vocals - original).mean()) > 1e-3


def test_the_same_mix_gives_the_same_vocals_every_time(tmp_path: Path, tiny_model: Path) -> None:
    # A retried activity or a rerun must hear what the first attempt heard.
    mix = _mix(tmp_path / "mix.wav", 1.0)
    separator = load_separator(tiny_model, device="cpu")

    first = separator.separate(mix, tmp_path / "first.wav")
    again = separator.separate(mix, tmp_path / "again.wav")

    assert np.array_equal(_samples(first.path), _samples(again.path))


def test_a_mono_mix_at_another_rate_is_converted_for_the_model(
    tmp_path: Path, tiny_model: Path
) -> None:
    mix = _mix(tmp_path / "mono.flac", 0.5, rate=16_000, layout="mono")

    separated = load_separator(tiny_model, device="cpu").separate(mix, tmp_path / "vocals.wav")

    assert separated.duration_s == pytest.approx(0.5)
    assert _samples(separated.path).shape == (22_050, 2)


def test_silence_separates_to_finite_samples(tmp_path: Path, tiny_model: Path) -> None:
    silence = tmp_path / "silence.wav"
    source = ffmpeg.input("anullsrc=r=44100:cl=stereo", f="lavfi", t=0.5)
    source.output(str(silence)).overwrite_output().run(quiet=True)

    separated = load_separator(tiny_model, device="cpu").separate(silence, tmp_path / "v.wav")

    assert np.isfinite(_samples(separated.path)).all()


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_a_bag_of_models_loads_from_its_yaml(tmp_path: Path, suffix: str) -> None:
    saved = save_bag([build_tiny_htdemucs(1), build_tiny_htdemucs(2)], tmp_path / "bag")
    bag = saved.rename(saved.with_suffix(suffix))

    separator = load_separator(bag, device="cpu")
    separated = separator.separate(_mix(tmp_path / "mix.wav", 0.5), tmp_path / "vocals.wav")

    assert len(separator.model.models) == 2
    assert separated.duration_s == pytest.approx(0.5)
    assert separator.stand_in is None  # read from the bag's first model, either spelling


def test_weights_are_the_saved_ones_not_fresh_ones(tiny_model: Path) -> None:
    saved = build_tiny_htdemucs().state_dict()

    loaded = load_separator(tiny_model, device="cpu").model.state_dict()

    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[name], loaded[name]) for name in saved)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.safetensors", None, "is not a file on this worker"),
        ("htdemucs.th", b"\x80\x02}q\x00.", "neither a .safetensors model nor a .yaml"),
        ("broken.safetensors", b"\x00" * 64, "cannot load the Demucs model broken.safetensors"),
        ("bag.yaml", b"models: [missing0]\n", "cannot load the Demucs model bag.yaml"),
    ],
)
def test_unusable_model_files_are_a_non_retryable_config_error(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(SeparationUnavailable, match=message) as caught:
        load_separator(path)

    assert not caught.value.retryable


def test_a_model_without_a_vocals_stem_is_refused(tmp_path: Path) -> None:
    model = build_tiny_htdemucs(sources=("drums", "bass", "other", "piano"))
    path = save_safetensors(model, tmp_path / "no-vocals.safetensors")

    with pytest.raises(SeparationUnavailable, match="drums, bass, other, piano, not vocals"):
        load_separator(path)
