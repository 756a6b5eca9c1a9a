"""Previews against clips made by the real ffmpeg: frames carry their number
(``pipeline.standins.framecode``) and each segment its own colour, so every test can say
which frame ended up where."""

from __future__ import annotations

import math
from pathlib import Path

import ffmpeg
import pytest
from PIL import Image, ImageChops, ImageStat

from pipeline.domain.errors import InternalError
from pipeline.domain.frames.plan import FramePlan, plan_i2v, plan_infinitetalk
from pipeline.media.contact_sheet import (
    LINE_HEIGHT,
    MARGIN,
    MAX_CAPTION_LINES,
    PAIR_GAP,
    Sheet,
    SheetPair,
    contact_sheet,
)
from pipeline.media.preview import (
    extract_frames,
    poster,
    preview_size,
    seam_frames,
    segment_preview,
)
from pipeline.media.probe import probe
from pipeline.media.stitch import StitchSegment, stitch
from pipeline.standins import framecode

COLOURS = [(200, 40, 40), (40, 170, 60), (50, 70, 200), (210, 190, 40)]
"""One per segment, far apart, so a tile shows which segment it came from."""
SMALL = (160, 96)


def _encode(path: Path, frames: list[Image.Image], fps: int, *, audio: bool = False) -> Path:
    size = frames[0].size
    video = ffmpeg.input(
        "pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{size[0]}x{size[1]}", framerate=fps
    )
    streams = [video]
    options: dict[str, object] = {"vcodec": "libx264", "pix_fmt": "yuv420p", "crf": 18}
    if audio:
        seconds = len(frames) / fps
        streams.append(ffmpeg.input(f"sine=f=440:d={seconds}", f="lavfi").audio)
        options.update(acodec="aac")
    ffmpeg.output(*streams, str(path), **options).overwrite_output().run(
        input=b"".join(frame.tobytes() for frame in frames), quiet=True
    )
    return path


def _segment(
    path: Path, colour: int, first: int, count: int, fps: int, size: tuple[int, int] = SMALL
) -> Path:
    """``count`` frames of ``COLOURS[colour]`` numbered ``first`` on."""
    background = Image.new("RGB", size, COLOURS[colour])
    frames = [framecode.stamp(background, n) for n in range(first, first + count)]
    return _encode(path, frames, fps)


def _number(path: Path) -> int | None:
    with Image.open(path) as image:
        return framecode.read(image)


def _colour_near(image: Image.Image, colour: tuple[int, int, int]) -> bool:
    """The middle band (no text, no frame code) is ``colour`` within codec error."""
    width, height = image.size
    band = image.convert("RGB").crop((width // 4, height * 2 // 5, width * 3 // 4, height * 3 // 5))
    mean = ImageStat.Stat(band).mean
    return all(abs(m - c) < 20 for m, c in zip(mean, colour, strict=True))


# -- sizes (pure) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((832, 480), (320, 184)),
        ((480, 832), (184, 320)),
        ((1280, 720), (320, 180)),
        ((333, 251), (320, 240)),
        ((200, 120), (200, 120)),
        ((201, 121), (200, 120)),
    ],
)
def test_preview_size_fits_the_longer_side_never_upscales_and_stays_even(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    width, height = preview_size(*size, 320)

    assert (width, height) == expected
    assert max(width, height) <= 320
    assert (width % 2, height % 2) == (0, 0)


# -- segment previews ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("audio", [False, True], ids=["silent", "with-audio"])
def test_segment_preview_keeps_every_frame_its_duration_and_its_audio(
    tmp_path: Path, audio: bool
) -> None:
    frames = [framecode.stamp(Image.new("RGB", (832, 480), COLOURS[0]), n) for n in range(81)]
    source = _encode(tmp_path / "segment_000.mp4", frames, 16, audio=audio)

    made = segment_preview(source, tmp_path / "preview.mp4")

    original, preview = probe(source), probe(tmp_path / "preview.mp4")  # decodes every frame
    assert made.frame_count == preview.frame_count == original.frame_count == 81
    assert (preview.width, preview.height) == (320, 184)
    assert abs(preview.duration_s - original.duration_s) <= 1 / 16
    assert preview.has_audio is audio
    if audio:
        assert original.audio_duration_s is not None
        assert preview.audio_duration_s is not None
        assert abs(preview.audio_duration_s - original.audio_duration_s) <= 1 / 16
    # The frames are the source's, in order: the first, a middle and the last one.
    picked = extract_frames(tmp_path / "preview.mp4", [0, 40, 80], tmp_path / "picked")
    assert [_number(path) for path in picked.values()] == [0, 40, 80]
    assert (tmp_path / "preview.mp4").stat().st_size < original.duration_s * 400_000 / 8


@pytest.mark.slow
@pytest.mark.parametrize("size", [(480, 832), (333, 251)])
def test_segment_preview_of_odd_and_portrait_sizes_is_even_and_within_the_limit(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    # FFV1 in Matroska carries odd sizes, which H.264 in 4:2:0 cannot.
    source = tmp_path / "segment.mkv"
    ffmpeg.input(f"testsrc2=s={size[0]}x{size[1]}:r=16:d=1", f="lavfi").output(
        str(source), vcodec="ffv1"
    ).overwrite_output().run(quiet=True)

    segment_preview(source, tmp_path / "preview.mp4", max_side=240)

    made = probe(tmp_path / "preview.mp4")
    assert made.width is not None
    assert made.height is not None
    assert max(made.width, made.height) <= 240
    assert (made.width % 2, made.height % 2) == (0, 0)
    assert made.frame_count == 16


@pytest.mark.slow
def test_an_unreadable_segment_is_an_internal_error(tmp_path: Path) -> None:
    broken = tmp_path / "segment_000.mp4"
    broken.write_bytes(b"\x00" * 2048)

    with pytest.raises(InternalError):
        segment_preview(broken, tmp_path / "preview.mp4")
    assert not (tmp_path / "preview.mp4").exists()


# -- poster --------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_poster_is_the_middle_frame_as_a_full_size_jpeg(tmp_path: Path) -> None:
    video = _segment(tmp_path / "combined.mp4", 1, 0, 81, 16, size=(832, 480))

    index = poster(video, tmp_path / "poster.jpg")

    assert index == 40
    with Image.open(tmp_path / "poster.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (832, 480))
        assert framecode.read(image) == 40
        assert _colour_near(image, COLOURS[1])


@pytest.mark.slow
def test_the_poster_takes_the_frame_asked_for_and_refuses_one_past_the_end(
    tmp_path: Path,
) -> None:
    video = _segment(tmp_path / "combined.mp4", 0, 0, 33, 16)

    assert poster(video, tmp_path / "poster.jpg", at=32) == 32
    assert _number(tmp_path / "poster.jpg") == 32
    with pytest.raises(ValueError, match="no frame 33"):
        poster(video, tmp_path / "late.jpg", at=33)


# -- frames and seams ----------------------------------------------------------------------


@pytest.mark.slow
def test_extract_frames_takes_each_asked_frame_once_by_index(tmp_path: Path) -> None:
    video = _segment(tmp_path / "clip.mp4", 0, 0, 40, 25)

    frames = extract_frames(video, [39, 0, 17, 17], tmp_path / "out")

    assert list(frames) == [0, 17, 39]
    assert {index: _number(path) for index, path in frames.items()} == {0: 0, 17: 17, 39: 39}
    with pytest.raises(InternalError, match="no frame 40"):
        extract_frames(video, [3, 40], tmp_path / "more")


def _stitched(tmp_path: Path, plan: FramePlan) -> Path:
    """The plan's segments, each its own colour, stitched as the pipeline stitches them.

    Segment ``k``'s frames carry the number they will have in the combined video, so its
    leading overlap repeats the previous segment's last numbers, as a real extension would.
    """
    parts, start = [], 0
    for segment in plan.segments:
        first = start - segment.drop_leading
        path = tmp_path / f"segment_{segment.index:03d}.mp4"
        parts.append(
            StitchSegment(
                _segment(path, segment.index, first, segment.length, plan.fps),
                segment.drop_leading,
            )
        )
        start += segment.new_frames
    combined = tmp_path / "combined.mp4"
    stitch(parts, combined, fps=plan.fps, total_frames=plan.final_frames)
    return combined


PLANS = {
    "i2v-3-segments": plan_i2v(extensions=2, fps=16, width=SMALL[0], height=SMALL[1]),
    "infinitetalk-3-windows": plan_infinitetalk(7.0, fps=25, width=SMALL[0], height=SMALL[1]),
}


@pytest.mark.slow
@pytest.mark.parametrize("plan", PLANS.values(), ids=PLANS.keys())
def test_seam_frames_are_the_last_before_and_the_first_after_each_join(
    tmp_path: Path, plan: FramePlan
) -> None:
    combined = _stitched(tmp_path, plan)

    pairs = seam_frames(combined, plan, tmp_path / "frames")

    # I2V drops 1 re-rendered frame per extension, InfiniteTalk 9 per window.
    before = {16: [80, 160], 25: [80, 152]}[plan.fps]
    expected = [(0, plan.final_frames - 1), *((frame, frame + 1) for frame in before)]
    assert [(_number(p.left), _number(p.right)) for p in pairs] == expected
    for seam, pair in enumerate(pairs[1:], start=1):
        with Image.open(pair.left) as left, Image.open(pair.right) as right:
            assert _colour_near(left, COLOURS[seam - 1])
            assert _colour_near(right, COLOURS[seam])
    assert pairs[1].label == "seam 1: segment 0 | 1"
    assert pairs[1].caption[0].startswith("frames 80 | 81, ")


# -- contact sheet -------------------------------------------------------------------------


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Pixels in ``box`` bright enough to be text on the dark background."""
    region = image.convert("L").crop(box)
    return sum(region.point(lambda v: 255 if v > 128 else 0).histogram()[255:])


def _expected_size(pairs: int, tile: tuple[int, int], lines: int) -> tuple[int, int]:
    columns = min(2, pairs)
    rows = math.ceil(pairs / 2)
    cell = (2 * tile[0] + PAIR_GAP, LINE_HEIGHT + tile[1] + PAIR_GAP + lines * LINE_HEIGHT)
    return (
        2 * MARGIN + columns * cell[0] + (columns - 1) * MARGIN,
        2 * MARGIN + rows * cell[1] + (rows - 1) * MARGIN,
    )


@pytest.fixture(scope="module")
def stitched_i2v(tmp_path_factory: pytest.TempPathFactory) -> tuple[FramePlan, Path]:
    plan = plan_i2v(extensions=3, fps=16, width=SMALL[0], height=SMALL[1])
    folder = tmp_path_factory.mktemp("i2v")
    return plan, _stitched(folder, plan)


@pytest.mark.slow
@pytest.mark.parametrize("seam_count", [0, 1, 3])
def test_the_sheet_has_one_pair_per_seam_plus_first_last_laid_out_two_a_row(
    tmp_path: Path, stitched_i2v: tuple[FramePlan, Path], seam_count: int
) -> None:
    full, combined = stitched_i2v
    plan = full.model_copy(update={"output_frames": 1 + 80 * (seam_count + 1)})
    pairs = seam_frames(combined, plan, tmp_path / "frames")
    assert len(pairs) == seam_count + 1

    sheet = contact_sheet(pairs, tmp_path / "sheet.png", tile_side=320)

    with Image.open(tmp_path / "sheet.png") as image:
        assert image.format == "PNG"
        assert image.size == sheet.size == _expected_size(len(pairs), (320, 192), 1)


@pytest.mark.slow
def test_each_tile_shows_its_frame_and_each_caption_is_drawn_under_its_own_pair(
    tmp_path: Path, stitched_i2v: tuple[FramePlan, Path]
) -> None:
    plan, combined = stitched_i2v
    pairs = seam_frames(combined, plan, tmp_path / "frames")
    # Only seam 2 gets QC lines: the rows grow by two lines, and only its area has ink there.
    pairs[2] = pairs[2]._replace(caption=(*pairs[2].caption, "ssim 0.41 < 0.80", "psnr 12.0 dB"))

    sheet = contact_sheet(pairs, tmp_path / "sheet.png")

    assert sheet.tile == (320, 192)
    with Image.open(tmp_path / "sheet.png") as image:
        assert image.size == _expected_size(4, sheet.tile, 3)
        for pair, box in zip(pairs, sheet.boxes, strict=True):
            for path, tile_box in ((pair.left, box.left), (pair.right, box.right)):
                tile = image.crop(tile_box).convert("RGB")
                with Image.open(path) as frame:
                    source = frame.convert("RGB").resize(sheet.tile)
                difference = ImageStat.Stat(ImageChops.difference(tile, source)).mean
                assert max(difference) < 4
                assert framecode.read(tile) == _number(path)
            left, top, right, _ = box.caption
            assert _ink(image, (left, top, right, top + LINE_HEIGHT)) > 50
        # The two lines below each pair's first caption line.
        qc_lines = [
            (b.left[0], b.caption[1] + LINE_HEIGHT, b.right[2], b.caption[1] + 3 * LINE_HEIGHT)
            for b in sheet.boxes
        ]
        assert _ink(image, qc_lines[2]) > 50
        assert [_ink(image, qc_lines[i]) for i in (0, 1, 3)] == [0, 0, 0]


@pytest.mark.slow
def test_long_captions_wrap_inside_the_pair_and_too_many_lines_end_in_an_ellipsis(
    tmp_path: Path, stitched_i2v: tuple[FramePlan, Path]
) -> None:
    plan, combined = stitched_i2v
    first, seam = seam_frames(combined, plan, tmp_path / "frames")[:2]
    long = " ".join(f"measure{n}=0.{n:03d}" for n in range(40))
    many = tuple(f"line {n}" for n in range(MAX_CAPTION_LINES + 5))
    pairs = [first._replace(caption=(long,)), seam._replace(caption=many)]

    sheet = contact_sheet(pairs, tmp_path / "sheet.png")

    with Image.open(tmp_path / "sheet.png") as image:
        wrapped = sheet.boxes[0].caption
        assert (wrapped[3] - wrapped[1]) // LINE_HEIGHT > 2
        # Nothing spills into the margin between the two pairs.
        gutter = (wrapped[2], wrapped[1], sheet.boxes[1].caption[0], wrapped[3])
        assert _ink(image, gutter) == 0
        capped = sheet.boxes[1].caption
        assert (capped[3] - capped[1]) // LINE_HEIGHT == MAX_CAPTION_LINES
        assert image.size[1] == _expected_size(2, sheet.tile, MAX_CAPTION_LINES)[1]


@pytest.mark.slow
def test_a_frame_of_another_shape_is_fitted_inside_its_tile(tmp_path: Path) -> None:
    wide = tmp_path / "wide.png"
    tall = tmp_path / "tall.png"
    Image.new("RGB", (320, 180), COLOURS[0]).save(wide)
    Image.new("RGB", (90, 160), COLOURS[2]).save(tall)

    sheet: Sheet = contact_sheet([SheetPair("mixed", wide, tall)], tmp_path / "sheet.png")

    with Image.open(tmp_path / "sheet.png") as image:
        tile = image.crop(sheet.boxes[0].right)
        assert tile.size == (320, 180)
        assert tile.getpixel((160, 90)) == COLOURS[2]
        assert tile.getpixel((2, 90)) == (24, 24, 24)  # letterboxed, not stretched
        assert tile.getpixel((160, 2)) == COLOURS[2]  # as tall as the tile
