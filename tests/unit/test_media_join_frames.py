"""join_frames: the PNGs a prompt saved become one file LoadImage reads frame for frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from pipeline.domain.errors import InternalError
from pipeline.media.frames import join_frames

SIZE = (96, 64)


def frames_of(path: Path) -> list[np.ndarray]:
    with Image.open(path) as image:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def saved(tmp_path: Path, pixels: list[np.ndarray]) -> list[Path]:
    paths = []
    for index, array in enumerate(pixels):
        path = tmp_path / f"frame_{index:05}_.png"
        Image.fromarray(array).save(path, compress_level=4)
        paths.append(path)
    return paths


def test_every_frame_comes_back_with_its_bytes_even_repeated_or_nearly_equal(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(7)
    a, b = (rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8) for _ in range(2))
    nudged = a.copy()
    nudged[10, 20, 1] ^= 1  # one value of one pixel differs: a tiny APNG delta region
    pixels = [a, a, b, b, nudged, a, a, a, b]

    joined = join_frames(saved(tmp_path, pixels), tmp_path / "motion.png")

    back = frames_of(joined)
    assert len(back) == len(pixels)
    assert all(np.array_equal(x, y) for x, y in zip(back, pixels, strict=True))


def test_one_frame_is_a_plain_png(tmp_path: Path) -> None:
    pixel: np.ndarray = np.full((SIZE[1], SIZE[0], 3), 200, dtype=np.uint8)
    joined = join_frames(saved(tmp_path, [pixel]), tmp_path / "last.png")
    with Image.open(joined) as image:
        assert (image.format, image.mode, getattr(image, "n_frames", 1)) == ("PNG", "RGB", 1)
    assert np.array_equal(frames_of(joined)[0], pixel)


def test_a_frame_that_is_not_8_bit_rgb_is_refused(tmp_path: Path) -> None:
    rgb = saved(tmp_path, [np.zeros((SIZE[1], SIZE[0], 3), dtype=np.uint8)])
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", SIZE).save(rgba)
    with pytest.raises(InternalError, match=r"rgba\.png is a 96x64 RGBA image"):
        join_frames([*rgb, rgba], tmp_path / "out.png")
