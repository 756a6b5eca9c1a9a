"""The last frames of a segment, as lossless PNGs, chosen by exact frame index."""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from pipeline.domain.errors import InternalError
from pipeline.media.probe import probe_intermediate
from pipeline.media.process import ffmpeg_command, run_checked


def _frame_path(out_dir: Path, video: Path, index: int) -> Path:
    return out_dir / f"{video.stem}_{index:06d}.png"


def build_last_frames_command(
    video: Path, out_dir: Path, *, frame_count: int, count: int
) -> list[str]:
    """Write frames ``frame_count - count`` .. ``frame_count - 1``, each named by its index."""
    first = frame_count - count
    # image2 expands %d anywhere in the path, so a literal % must be doubled.
    pattern = str(out_dir / video.stem).replace("%", "%%") + "_%06d.png"
    # trim counts decoded frames, so the choice is by index: seeking by time can land a
    # frame early or late when timestamps are not exact multiples of the frame duration.
    frames = ffmpeg.input(str(video)).video.trim(start_frame=first)
    stream = frames.output(
        pattern, vcodec="png", pix_fmt="rgb24", start_number=first, fps_mode="passthrough"
    )
    return ffmpeg_command(stream)


def extract_last_frames(video: Path, out_dir: Path, count: int = 1) -> list[Path]:
    """The last ``count`` frames of ``video`` as PNGs in ``out_dir``, oldest first."""
    if count < 1:
        raise ValueError(f"count must be >= 1, not {count}")
    frame_count = probe_intermediate(video).frame_count or 0
    if frame_count < count:
        raise InternalError(
            f"{video.name} has {frame_count} frame(s); cannot take the last {count}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    run_checked(
        build_last_frames_command(video, out_dir, frame_count=frame_count, count=count),
        what=f"extract the last {count} frame(s) of {video.name}",
    )
    paths = [_frame_path(out_dir, video, i) for i in range(frame_count - count, frame_count)]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise InternalError(f"ffmpeg wrote no {', '.join(missing)} for {video.name}")
    return paths
