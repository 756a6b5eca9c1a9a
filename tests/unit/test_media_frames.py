from __future__ import annotations

from pathlib import Path

import ffmpeg
import pytest
from PIL import Image

from pipeline.domain.errors import InternalError
from pipeline.media.frames import extract_last_frames
from pipeline.standins import framecode

SIZE = (128, 96)
FRAMES = 20


# Every test here encodes and decodes video with ffmpeg.
pytestmark = pytest.mark.slow


def _numbered_clip(path: Path, count: int, rate: str) -> Path:
    """``count`` H.264 frames (B-frames and all) numbered 0.. with framecode."""
    raw = b"".join(
        framecode.stamp(Image.new("RGB", SIZE, (n * 37 % 256, 90, 140)), n).tobytes()
        for n in range(count)
    )
    source = ffmpeg.input(
        "pipe:", format="rawvideo", pix_fmt="rgb24", s="{}x{}".format(*SIZE), framerate=rate
    )
    source.output(str(path), vcodec="libx264", pix_fmt="yuv420p").overwrite_output().run(
        input=raw, quiet=True
    )
    return path


@pytest.mark.parametrize("rate", ["16", "24000/1001"])
@pytest.mark.parametrize("count", [1, 4])
def test_last_frames_are_the_last_by_index(tmp_path: Path, rate: str, count: int) -> None:
    video = _numbered_clip(tmp_path / "segment_000.mp4", FRAMES, rate)

    paths = extract_last_frames(video, tmp_path / "frames", count)

    numbers = []
    for path in paths:
        with Image.open(path) as frame:
            assert (frame.format, frame.size) == ("PNG", SIZE)
            numbers.append(framecode.read(frame))
    assert numbers == list(range(FRAMES - count, FRAMES))
    assert sorted((tmp_path / "frames").iterdir()) == paths


def test_default_is_the_single_last_frame(tmp_path: Path) -> None:
    video = _numbered_clip(tmp_path / "clip.mp4", FRAMES, "16")

    [path] = extract_last_frames(video, tmp_path)

    assert path.name == f"clip_{FRAMES - 1:06d}.png"
    with Image.open(path) as frame:
        assert framecode.read(frame) == FRAMES - 1


def test_asking_for_more_frames_than_the_video_has_is_an_internal_error(
    tmp_path: Path,
) -> None:
    video = _numbered_clip(tmp_path / "short.mp4", 3, "16")

    with pytest.raises(InternalError, match=r"short\.mp4 has 3 frame\(s\)"):
        extract_last_frames(video, tmp_path / "frames", 4)


def test_unreadable_segment_is_an_internal_error(tmp_path: Path) -> None:
    video = tmp_path / "segment_001.mp4"
    video.write_bytes(b"\x00" * 1024)

    with pytest.raises(InternalError):
        extract_last_frames(video, tmp_path / "frames")


def test_count_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="count"):
        extract_last_frames(tmp_path / "any.mp4", tmp_path, 0)


def test_percent_in_the_output_folder_is_taken_literally(tmp_path: Path) -> None:
    video = _numbered_clip(tmp_path / "clip.mp4", 5, "16")

    [path] = extract_last_frames(video, tmp_path / "frames%d")

    assert path == tmp_path / "frames%d" / "clip_000004.png"
    assert path.is_file()
