"""Stitching: ``pipeline.media.stitch`` against a bare ffmpeg concat + mux of the same segments.

Both make one H.264 (CRF 19) + AAC file from the same Wan-sized segments and audio. Ours
also counts every segment's frames, drops the overlaps by index, trims to the plan and
verifies the result (two extra decodes); the baseline, measured in the same run, is the
one ffmpeg command a person would write. Target: ours ≤ 1.1x the baseline's wall time.

    .venv/bin/python -m bench.stitch [--segments 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ffmpeg

from pipeline.media.process import ffmpeg_command, run_checked
from pipeline.media.stitch import AUDIO_BITRATE, VIDEO_CRF, StitchSegment, stitch

FPS = 16
SIZE = "832x480"
LENGTH = 81
OVERLAP = 1
TARGET_RATIO = 1.1


def make_segments(folder: Path, count: int) -> list[Path]:
    """Wan-sized segments of moving test pattern, each starting where the last one ended."""
    paths = []
    for index in range(count):
        path = folder / f"segment_{index:03d}.mp4"
        pattern = ffmpeg.input(f"testsrc2=size={SIZE}:rate={FPS}", f="lavfi")
        start = index * (LENGTH - OVERLAP) / FPS
        clip = pattern.video.trim(start=start).setpts("PTS-STARTPTS")
        clip.output(str(path), vframes=LENGTH, vcodec="libx264", pix_fmt="yuv420p").run(
            quiet=True, overwrite_output=True
        )
        paths.append(path)
    return paths


def make_audio(folder: Path, seconds: float) -> Path:
    path = folder / "voice.wav"
    tone = ffmpeg.input(f"sine=frequency=220:sample_rate=48000:duration={seconds}", f="lavfi")
    tone.output(str(path)).run(quiet=True, overwrite_output=True)
    return path


def bare_concat(segments: list[Path], audio: Path, out: Path) -> None:
    """concat filter + mux, same encoder settings, no frame accounting or checks."""
    video = ffmpeg.concat(*(ffmpeg.input(str(path)).video for path in segments), v=1, a=0)
    sound = ffmpeg.input(str(audio)).audio
    stream = ffmpeg.output(
        video, sound, str(out), vcodec="libx264", crf=VIDEO_CRF, pix_fmt="yuv420p",
        acodec="aac", audio_bitrate=AUDIO_BITRATE, shortest=None, movflags="+faststart",
    )  # fmt: skip
    run_checked(ffmpeg_command(stream), what="concat for the baseline")


def timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main(count: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-stitch-") as folder:
        scratch = Path(folder)
        paths = make_segments(scratch, count)
        total = LENGTH + (count - 1) * (LENGTH - OVERLAP)
        audio = make_audio(scratch, total / FPS + 1)
        segments = [StitchSegment(p, 0 if i == 0 else OVERLAP) for i, p in enumerate(paths)]
        ours, bare = [], []
        for _ in range(repeats):
            # Alternated, so neither side always runs on a warmer page cache.
            bare.append(timed(lambda: bare_concat(paths, audio, scratch / "bare.mp4")))
            ours.append(
                timed(
                    lambda: stitch(
                        segments, scratch / "ours.mp4", fps=FPS, total_frames=total, audio=audio
                    )
                )
            )
    figures = {
        "segments": float(count),
        "frames": float(total),
        "ours_s": statistics.median(ours),
        "baseline_bare_concat_s": statistics.median(bare),
    }
    figures["ratio_to_baseline"] = figures["ours_s"] / figures["baseline_bare_concat_s"]
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    result = main(options.segments, options.repeats)
    for name, value in result.items():
        print(f"{name:>24}: {value:.3f}")
    met = result["ratio_to_baseline"] <= TARGET_RATIO
    print(f"target ratio <= {TARGET_RATIO}:", "met" if met else "MISSED")
