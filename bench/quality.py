"""The quality gate's cost per segment against that segment's share of the stitch.

For each size (832x480 and 480x832) two Wan-sized segments of moving test pattern (81
frames at 16 fps, the second continuing the first over one frame, as an i2v extension
does) are made; the gate on the second, as ``check_segment`` runs it (one ``measure`` of
it and its seam, reading the tail clip the first one's check kept, and keeping its own),
is timed against ``pipeline.media.stitch`` joining both, divided by the segments joined,
in the same run. The activity's store transfers (the segment, a tail clip of some 50 kB
each way) are not timed. Target: the gate under 10 % of the segment's stitch time. Ends
with one JSON line.

    .venv/bin/python -m bench.quality [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ffmpeg

from pipeline.domain.quality import QualityThresholds, judge
from pipeline.media.quality import Before, measure
from pipeline.media.stitch import StitchSegment, stitch

FPS = 16
LENGTH = 81
OVERLAP = 1
SIZES = ((832, 480), (480, 832))
TARGET_RATIO = 0.10


def make_segments(folder: Path, width: int, height: int) -> tuple[Path, Path]:
    """Two segments of testsrc2, the second starting on the first's last frame."""
    paths = []
    for index in range(2):
        path = folder / f"segment_{width}x{height}_{index:03d}.mp4"
        pattern = ffmpeg.input(f"testsrc2=size={width}x{height}:rate={FPS}", f="lavfi").video
        start = index * (LENGTH - OVERLAP)
        clip = pattern.trim(start_frame=start, end_frame=start + LENGTH).setpts("PTS-STARTPTS")
        clip.output(str(path), vcodec="libx264", pix_fmt="yuv420p").run(
            quiet=True, overwrite_output=True
        )
        paths.append(path)
    return paths[0], paths[1]


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def check(path: Path, before: Path | None, thresholds: QualityThresholds, index: int) -> int:
    """The gate on ``path``, as ``check_segment`` runs it; the failures it finds. Its tail
    clip is kept beside it, for the next segment's seam."""
    measured = measure(
        path,
        expected_frames=LENGTH,
        fps=FPS,
        expect_audio=False,
        thresholds=thresholds,
        index=index,
        before=Before(before, tail=True) if before is not None else None,
        overlap_frames=OVERLAP if before is not None else 0,
        keep_tail=tail_of(path),
    )
    return len(judge(measured.segment, measured.seam, thresholds))


def tail_of(path: Path) -> Path:
    return path.with_name(f"{path.stem}_tail.mkv")


def bench_size(folder: Path, width: int, height: int, repeats: int) -> dict[str, float]:
    before, after = make_segments(folder, width, height)
    thresholds = QualityThresholds()
    segments = [StitchSegment(before, 0), StitchSegment(after, OVERLAP)]
    total = 2 * LENGTH - OVERLAP
    out = folder / f"combined_{width}x{height}.mp4"
    gates, stitches = [], []
    failures = check(before, None, thresholds, 0)
    for _ in range(repeats):
        # Alternated, so neither side always runs on a warmer page cache.
        stitches.append(timed(lambda: stitch(segments, out, fps=FPS, total_frames=total)))
        started = time.perf_counter()
        failures += check(after, tail_of(before), thresholds, 1)
        gates.append(time.perf_counter() - started)
    gate_s = statistics.median(gates)
    stitch_s = statistics.median(stitches) / len(segments)
    return {
        "gate_s": gate_s,
        "stitch_per_segment_s": stitch_s,
        "ratio": gate_s / stitch_s,
        "failures_on_clean_segment": float(failures),
    }


def main(repeats: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as folder:
        return {
            f"{width}x{height}": bench_size(Path(folder), width, height, repeats)
            for width, height in SIZES
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    result = main(options.repeats)
    for size, figures in result.items():
        for name, value in figures.items():
            print(f"{size:>8} {name:>26}: {value:.3f}")
    met = all(figures["ratio"] < TARGET_RATIO for figures in result.values())
    print(f"target ratio < {TARGET_RATIO}:", "met" if met else "MISSED")
    print(json.dumps({"bench": "quality", "target_ratio": TARGET_RATIO, "met": met, **result}))
