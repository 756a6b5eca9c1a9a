from __future__ import annotations

import random
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageDraw

from pipeline.domain.errors import MediaError
from pipeline.media.image import ImageInfo, normalize_image

RED, BLUE, GREEN, BLACK, WHITE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (0, 0, 0), (255,) * 3


def _close(pixel: object, expected: tuple[int, ...], tolerance: int = 24) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def _normalize(src: Path, width: int = 64, height: int = 64) -> tuple[ImageInfo, Image.Image]:
    dst = src.with_name("out.jpg")
    info = normalize_image(src, dst, width, height)
    with Image.open(dst) as written:
        written.load()
    return info, written


def _noise(size: tuple[int, int]) -> Image.Image:
    data = random.Random(0).randbytes(size[0] * size[1] * 3)
    return Image.frombytes("RGB", size, data)


def _png_header(width: int, height: int) -> bytes:
    """A valid PNG that claims ``width`` x ``height`` but carries almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_output_is_rgb_jpeg_of_exactly_the_target_size(tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    _noise((300, 200)).save(src)
    dst = tmp_path / "prepared.jpg"

    info = normalize_image(src, dst, 128, 96)

    with Image.open(dst) as written:
        assert (written.format, written.mode, written.size) == ("JPEG", "RGB", (128, 96))
    assert info == ImageInfo(
        source_format="PNG",
        source_size=(300, 200),
        output_size=(128, 96),
        fit="cover",
        crop=(16, 0, 283, 200),
    )
    assert {p.name for p in tmp_path.iterdir()} == {"photo.png", "prepared.jpg"}


def test_exif_orientation_is_applied_and_not_written_again(tmp_path: Path) -> None:
    # Stored landscape, red left and blue right; orientation 6 displays it turned
    # 90° clockwise: portrait, red on top.
    stored = Image.new("RGB", (200, 100), BLUE)
    stored.paste(RED, (0, 0, 100, 100))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    src = tmp_path / "phone.jpg"
    stored.save(src, "JPEG", exif=exif, quality=95)

    info, out = _normalize(src, 64, 128)

    assert info.source_size == (100, 200)
    assert _close(out.getpixel((32, 10)), RED)
    assert _close(out.getpixel((32, 117)), BLUE)
    assert ExifTags.Base.Orientation not in out.getexif()


def test_image_is_scaled_to_cover_and_centre_cropped(tmp_path: Path) -> None:
    wide = Image.new("RGB", (300, 100), GREEN)
    wide.paste(RED, (100, 0, 200, 100))
    wide.paste(BLUE, (200, 0, 300, 100))
    src = tmp_path / "wide.png"
    wide.save(src)

    _, out = _normalize(src, 64, 64)

    # Covering 64x64 scales the middle third to exactly the output: no green or blue.
    for x in (3, 32, 60):
        assert _close(out.getpixel((x, 32)), RED), x


def test_alpha_is_flattened_onto_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle((32, 32, 95, 95), fill=(0, 0, 0, 255))
    src = tmp_path / "logo.png"
    rgba.save(src)

    _, out = _normalize(src)

    assert _close(out.getpixel((2, 2)), WHITE)
    assert _close(out.getpixel((32, 32)), BLACK)


def test_palette_transparency_is_flattened_onto_white(tmp_path: Path) -> None:
    palette = Image.new("P", (128, 128), 0)
    palette.putpalette([0, 255, 0, 0, 0, 0])
    ImageDraw.Draw(palette).rectangle((32, 32, 95, 95), fill=1)
    src = tmp_path / "sticker.gif"
    palette.save(src, transparency=0)

    _, out = _normalize(src)

    assert _close(out.getpixel((2, 2)), WHITE)
    assert _close(out.getpixel((32, 32)), BLACK)


def test_cmyk_is_converted_to_rgb(tmp_path: Path) -> None:
    src = tmp_path / "print.jpg"
    Image.new("CMYK", (128, 128), (0, 255, 255, 0)).save(src, "JPEG")

    info, out = _normalize(src)

    assert info.source_format == "JPEG"
    assert out.mode == "RGB"
    assert _close(out.getpixel((32, 32)), RED, tolerance=40)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("L", 100, 100), ("I;16", 32768, 128)],
    ids=["8-bit", "16-bit"],
)
def test_greyscale_keeps_its_brightness(
    tmp_path: Path, mode: str, value: int, expected: int
) -> None:
    src = tmp_path / "grey.png"
    Image.new(mode, (128, 128), value).save(src)

    _, out = _normalize(src)

    assert _close(out.getpixel((32, 32)), (expected,) * 3, tolerance=4)


def test_animated_image_uses_its_first_frame(tmp_path: Path) -> None:
    src = tmp_path / "loop.gif"
    first, second = Image.new("RGB", (128, 128), RED), Image.new("RGB", (128, 128), BLUE)
    first.save(src, save_all=True, append_images=[second], duration=100, loop=0)

    info, out = _normalize(src)

    assert info.source_format == "GIF"
    assert _close(out.getpixel((32, 32)), RED)


def test_apng_starts_with_its_first_animation_frame_not_its_hidden_default_image(
    tmp_path: Path,
) -> None:
    src = tmp_path / "wave.png"
    hidden, first, second = (Image.new("RGB", (128, 128), c) for c in (RED, GREEN, BLUE))
    hidden.save(src, save_all=True, append_images=[first, second], default_image=True)

    info, out = _normalize(src)

    assert info.source_format == "PNG"
    assert _close(out.getpixel((32, 32)), GREEN)


def test_apng_without_a_default_image_starts_with_its_first_frame(tmp_path: Path) -> None:
    src = tmp_path / "wave.png"
    first, second = Image.new("RGB", (128, 128), RED), Image.new("RGB", (128, 128), BLUE)
    first.save(src, save_all=True, append_images=[second])

    _, out = _normalize(src)

    assert _close(out.getpixel((32, 32)), RED)


def test_an_image_of_a_type_not_accepted_is_refused_by_its_content(tmp_path: Path) -> None:
    src = tmp_path / "face.png"
    Image.new("RGB", (128, 128), BLUE).save(src, "TGA")

    with pytest.raises(MediaError, match=r"face\.png is a TGA image, not one of the accepted"):
        _normalize(src)


def test_mislabelled_image_is_read_by_its_content(tmp_path: Path) -> None:
    src = tmp_path / "really-a-png.jpg"
    Image.new("RGB", (128, 128), BLUE).save(src, "PNG")

    info, out = _normalize(src)

    assert info.source_format == "PNG"
    assert _close(out.getpixel((32, 32)), BLUE)


def test_text_file_named_png_is_refused_with_what_it_looks_like(tmp_path: Path) -> None:
    src = tmp_path / "image.png"
    src.write_text("this is not a picture\n")

    with pytest.raises(MediaError) as caught:
        normalize_image(src, tmp_path / "out.jpg", 64, 64)

    assert caught.value.message == (
        "image.png is not an image Pillow can read (it looks like a text file)"
    )


def test_audio_file_named_jpg_is_refused_with_what_it_looks_like(tmp_path: Path) -> None:
    src = tmp_path / "photo.jpg"
    src.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32))

    with pytest.raises(MediaError, match=r"photo\.jpg .*looks like a WAV audio file"):
        normalize_image(src, tmp_path / "out.jpg", 64, 64)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "empty.png"
    src.touch()

    with pytest.raises(MediaError, match=r"empty\.png is empty"):
        normalize_image(src, tmp_path / "out.jpg", 64, 64)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_refused_and_nothing_is_written(tmp_path: Path, fmt: str) -> None:
    whole = tmp_path / "whole"
    _noise((256, 256)).save(whole, fmt)
    src = tmp_path / "cut"
    src.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    dst = tmp_path / "out.jpg"

    with pytest.raises(MediaError, match="damaged or truncated"):
        normalize_image(src, dst, 64, 64)

    assert not dst.exists()
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize(
    ("width", "height"),
    [(12_000, 9_000), (20_000, 20_000)],
    ids=["above-our-limit", "above-pillows-limit"],
)
def test_decompression_bomb_is_refused_without_decoding(
    tmp_path: Path, width: int, height: int
) -> None:
    src = tmp_path / "bomb.png"
    src.write_bytes(_png_header(width, height))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MediaError, match="MP"):
            normalize_image(src, tmp_path / "out.jpg", 64, 64)


def test_image_below_the_minimum_size_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "icon.png"
    Image.new("RGB", (63, 200), RED).save(src)

    with pytest.raises(MediaError, match=r"63x200 .*at least 64"):
        normalize_image(src, tmp_path / "out.jpg", 64, 64)


def _portrait(tmp_path: Path) -> Path:
    """A 100x300 portrait: a red face band at the top third, green below."""
    portrait = Image.new("RGB", (100, 300), GREEN)
    portrait.paste(RED, (0, 20, 100, 80))
    src = tmp_path / "portrait.png"
    portrait.save(src)
    return src


def test_a_portrait_keeps_its_face_by_default_and_records_the_crop(tmp_path: Path) -> None:
    src = _portrait(tmp_path)
    info = normalize_image(src, tmp_path / "out.jpg", 128, 64)
    with Image.open(tmp_path / "out.jpg") as out:
        assert _close(out.getpixel((64, 8)), RED)
    assert (info.fit, info.crop) == ("cover", (0, 50, 100, 100))


def test_cover_crops_the_centre_and_contain_shows_everything(tmp_path: Path) -> None:
    src = _portrait(tmp_path)
    cover = normalize_image(src, tmp_path / "cover.jpg", 128, 64, "cover")
    assert cover.crop == (0, 125, 100, 175)
    with Image.open(tmp_path / "cover.jpg") as out:
        assert _close(out.getpixel((64, 32)), GREEN)

    contain = normalize_image(src, tmp_path / "contain.jpg", 128, 64, "contain")
    assert (contain.fit, contain.crop, contain.output_size) == (
        "contain",
        (0, 0, 100, 300),
        (128, 64),
    )
    with Image.open(tmp_path / "contain.jpg") as out:
        # The whole portrait, 21 px wide, in the middle: its face band near the top.
        assert _close(out.getpixel((64, 8)), RED)
        assert _close(out.getpixel((64, 50)), GREEN)
