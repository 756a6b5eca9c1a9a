"""Separation: seconds of audio separated per second of wall time, on the CPU and the GPU.

Runs ``VocalSeparator.separate`` (the code the activity runs, ffmpeg decode and WAV write
included) with the tiny stand-in model and with htdemucs's full architecture (Demucs's
defaults, 42 M weights, untrained: the same arithmetic as the released model, so the same
speed; no weights can be downloaded here). Each model file is saved as ``pipeline models
sync`` places one and loaded with ``load_separator``. The baseline, measured in the same
run, is the plumbing alone: decoding the mix for the model and writing a WAV back, without
inference.

On a machine where torch sees a GPU the full architecture also runs on ``cuda`` (after a
5 s warm-up clip, not timed), with torch's peak allocation, and the tiny model separates
one clip on both devices: ``tiny_cpu_vs_cuda_max_abs`` is the largest sample difference
(the same model must give the same vocals wherever the worker runs it, up to float
rounding: cuDNN convolutions use TF32 by default). Needs the ``separation`` extra. Ends
with one JSON line of the figures.

    .venv/bin/python -m bench.separation [--seconds 30] [--full-seconds 10] [--gpu-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import ffmpeg

from pipeline.media.separation import load_separator
from pipeline.standins.tiny_demucs import build_htdemucs, build_tiny_htdemucs, save_safetensors

MIX = "0.4*sin(2*PI*440*t)+0.3*(random(0)-0.5)"
WARM_UP_S = 5.0


def make_mix(path: Path, seconds: float) -> Path:
    source = ffmpeg.input(f"aevalsrc={MIX}:s=44100:d={seconds}:c=stereo", f="lavfi")
    source.output(str(path)).run(quiet=True, overwrite_output=True)
    return path


def plumbing_s(mix: Path, out: Path) -> float:
    """Decode for the model and write float WAV back: the I/O ``separate`` does around inference."""
    started = time.perf_counter()
    raw = decode(mix)
    ffmpeg.input("pipe:", format="f32le", ar=44100, ac=2).output(str(out), acodec="pcm_f32le").run(
        input=raw, quiet=True, overwrite_output=True
    )
    return time.perf_counter() - started


def decode(path: Path) -> bytes:
    raw, _ = (
        ffmpeg.input(str(path))
        .output("pipe:", format="f32le", ar=44100, ac=2)
        .run(capture_stdout=True, quiet=True)
    )
    return bytes(raw)


def separation_s(model_path: Path, mix: Path, out: Path, device: str = "cpu") -> float:
    separator = load_separator(model_path, device=device)
    if device != "cpu":  # the first kernels compile and autotune: not what a worker pays per clip
        separator.separate(make_mix(out.with_name("warm-up.wav"), WARM_UP_S), out)
    started = time.perf_counter()
    separator.separate(mix, out)
    return time.perf_counter() - started


def max_abs_difference(first: Path, second: Path) -> float:
    import numpy as np

    a, b = (np.frombuffer(decode(path), dtype=np.float32) for path in (first, second))
    return float(np.abs(a - b).max())


def gpu_figures(scratch: Path, full: Path, tiny: Path, seconds: float) -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        return {"gpu": None}
    torch.cuda.reset_peak_memory_stats()
    mix = make_mix(scratch / "gpu-mix.wav", seconds)
    wall = separation_s(full, mix, scratch / "vocals.wav", "cuda")
    on_cpu, on_gpu = scratch / "tiny-cpu.wav", scratch / "tiny-cuda.wav"
    for device, out in (("cpu", on_cpu), ("cuda", on_gpu)):
        load_separator(tiny, device).separate(mix, out)
    return {
        "gpu": torch.cuda.get_device_name(),
        "htdemucs_architecture_cuda_audio_s": seconds,
        "htdemucs_architecture_cuda_wall_s": wall,
        "htdemucs_architecture_cuda_audio_s_per_wall_s": seconds / wall,
        "htdemucs_architecture_cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20,
        "tiny_cpu_vs_cuda_max_abs": max_abs_difference(on_cpu, on_gpu),
    }


def main(seconds: float, full_seconds: float, gpu_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-separation-") as folder:
        scratch = Path(folder)
        figures: dict[str, Any] = {}
        models = {
            "tiny": save_safetensors(build_tiny_htdemucs(), scratch / "tiny.safetensors"),
            "htdemucs_architecture": save_safetensors(
                build_htdemucs(), scratch / "htdemucs_architecture.safetensors"
            ),
        }
        for name, length in (("tiny", seconds), ("htdemucs_architecture", full_seconds)):
            if length <= 0:
                continue
            mix = make_mix(scratch / f"{name}-mix.wav", length)
            baseline = plumbing_s(mix, scratch / "plumbing.wav")
            wall = separation_s(models[name], mix, scratch / "vocals.wav")
            figures[f"{name}_audio_s"] = length
            figures[f"{name}_wall_s"] = wall
            figures[f"{name}_audio_s_per_wall_s"] = length / wall
            figures[f"{name}_baseline_plumbing_s"] = baseline
            figures[f"{name}_ratio_to_plumbing"] = wall / baseline
        if gpu_seconds > 0:
            figures |= gpu_figures(
                scratch, models["htdemucs_architecture"], models["tiny"], gpu_seconds
            )
            cpu = figures.get("htdemucs_architecture_audio_s_per_wall_s")
            gpu = figures.get("htdemucs_architecture_cuda_audio_s_per_wall_s")
            if cpu and gpu:
                figures["htdemucs_architecture_cuda_vs_cpu"] = gpu / cpu
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="mix length, tiny model")
    parser.add_argument(
        "--full-seconds", type=float, default=10.0, help="mix length, htdemucs size; 0 skips"
    )
    parser.add_argument(
        "--gpu-seconds", type=float, default=60.0, help="mix length on the GPU, if any; 0 skips"
    )
    options = parser.parse_args()
    found = main(options.seconds, options.full_seconds, options.gpu_seconds)
    for name, value in found.items():
        print(f"{name:>46}: {value:.3f}" if isinstance(value, float) else f"{name:>46}: {value}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in found.items()}))
