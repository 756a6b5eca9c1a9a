"""Separation: seconds of audio separated per second of wall time, on this machine's CPU.

Runs ``VocalSeparator.separate`` (the code the activity runs) with the tiny test model
and with htdemucs's full architecture (untrained weights: the same arithmetic as the real
model, so the same speed). The baseline, measured in the same run, is the plumbing alone:
decoding the mix for the model and writing a WAV back, without inference. Report only:
real figures come from a GPU worker. Needs the ``separation`` extra.

    .venv/bin/python -m bench.separation [--seconds 30] [--full-seconds 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import ffmpeg

from pipeline.media.separation import load_separator
from pipeline.standins.tiny_demucs import build_htdemucs, build_tiny_htdemucs, save_safetensors

MIX = "0.4*sin(2*PI*440*t)+0.3*(random(0)-0.5)"


def make_mix(path: Path, seconds: float) -> Path:
    source = ffmpeg.input(f"aevalsrc={MIX}:s=44100:d={seconds}:c=stereo", f="lavfi")
    source.output(str(path)).run(quiet=True, overwrite_output=True)
    return path


def plumbing_s(mix: Path, out: Path) -> float:
    """Decode for the model and write float WAV back: the I/O ``separate`` does around inference."""
    started = time.perf_counter()
    raw, _ = (
        ffmpeg.input(str(mix))
        .output("pipe:", format="f32le", ar=44100, ac=2)
        .run(capture_stdout=True, quiet=True)
    )
    ffmpeg.input("pipe:", format="f32le", ar=44100, ac=2).output(str(out), acodec="pcm_f32le").run(
        input=raw, quiet=True, overwrite_output=True
    )
    return time.perf_counter() - started


def separation_s(model_path: Path, mix: Path, out: Path) -> float:
    separator = load_separator(model_path, device="cpu")
    started = time.perf_counter()
    separator.separate(mix, out)
    return time.perf_counter() - started


def main(seconds: float, full_seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-separation-") as folder:
        scratch = Path(folder)
        figures: dict[str, float] = {}
        runs = (
            ("tiny", build_tiny_htdemucs(), seconds),
            ("htdemucs_architecture", build_htdemucs(), full_seconds),
        )
        for name, model, length in runs:
            if length <= 0:
                continue
            path = save_safetensors(model, scratch / f"{name}.safetensors")
            mix = make_mix(scratch / f"{name}-mix.wav", length)
            baseline = plumbing_s(mix, scratch / "plumbing.wav")
            wall = separation_s(path, mix, scratch / "vocals.wav")
            figures[f"{name}_audio_s"] = length
            figures[f"{name}_wall_s"] = wall
            figures[f"{name}_audio_s_per_wall_s"] = length / wall
            figures[f"{name}_baseline_plumbing_s"] = baseline
            figures[f"{name}_ratio_to_plumbing"] = wall / baseline
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="mix length, tiny model")
    parser.add_argument(
        "--full-seconds", type=float, default=10.0, help="mix length, htdemucs size; 0 skips"
    )
    options = parser.parse_args()
    for name, value in main(options.seconds, options.full_seconds).items():
        print(f"{name:>40}: {value:.3f}")
