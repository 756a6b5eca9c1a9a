"""The frames a segment hands to the next one, losslessly.

``join_frames`` makes the PNGs a segment's prompt saved (``workflows_comfy.graph.save_handoff``)
one file the next prompt's ``LoadImage`` reads as one batch; ``extract_last_frames`` takes
the last frames of a segment's video, chosen by exact frame index, where no prompt saved
them (segments rendered before the hand-off, operators' bound graphs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ffmpeg
from PIL import Image

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


def join_frames(frames: Sequence[Path], out: Path) -> Path:
    """``frames`` (8-bit RGB PNGs of one size, oldest first) as one PNG at ``out``.

    One frame is written as a plain PNG; more as an animated PNG, frame for frame: ComfyUI
    0.33.0's ``LoadImage`` (``nodes.py``) decodes every frame of it into one batch. No
    ``duration`` is given, since Pillow's APNG writer merges identical neighbouring frames
    into one longer frame when there is one (``PngImagePlugin._write_multiple_frames``),
    and a window needs every motion frame; the file is read back to make sure. Pixels are
    never converted: a frame that is not 8-bit RGB, or not the first one's size, is an
    ``InternalError`` (``SaveImage`` writes only those).
    """
    if not frames:
        raise ValueError("no frames to join")
    images = [Image.open(path) for path in frames]
    try:
        size = images[0].size
        for path, image in zip(frames, images, strict=True):
            if image.mode != "RGB" or image.size != size or getattr(image, "n_frames", 1) != 1:
                raise InternalError(
                    f"{path.name} is a {image.size[0]}x{image.size[1]} {image.mode} image "
                    f"of {getattr(image, 'n_frames', 1)} frame(s), not one "
                    f"{size[0]}x{size[1]} RGB frame"
                )
        images[0].save(out, format="PNG", save_all=len(images) > 1, append_images=images[1:])
    finally:
        for image in images:
            image.close()
    with Image.open(out) as written:
        kept = getattr(written, "n_frames", 1)
    if kept != len(frames):
        raise InternalError(f"{out.name} keeps {kept} of the {len(frames)} frames joined")
    return out
