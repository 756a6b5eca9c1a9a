"""The start image: a picture of an accepted type, made an upright RGB JPEG of the exact size.

Accepted are the image types of ``pipeline.domain.media_types`` (what the CLI accepts by
extension), told by what Pillow decodes, not by the file's name. Of an animation (GIF,
WebP, APNG) the first frame the animation shows is the start image.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from pipeline.domain.errors import MediaError
from pipeline.domain.media_types import accepted, image_type_of
from pipeline.media.sniff import looks_like

MAX_PIXELS = 100_000_000
"""Larger images are refused before decoding: a tiny file can claim gigapixels."""
MIN_SIDE = 64
JPEG_QUALITY = 95
_WHITE = (255, 255, 255)

Fit = Literal["cover", "contain"]
PORTRAIT_FOCUS = 0.2
"""Where a default crop of a picture taller than the frame sits: 20 % of the cut from the
top, since a portrait's face is in its upper part (a centred crop cuts heads off)."""
CONTAIN_BLUR = 24
"""Radius of the blurred cover copy behind a ``contain`` fit: no hard bars for the model."""

# Pillow raises all of these on malformed input, depending on the format plugin.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError)


@dataclass(frozen=True)
class ImageInfo:
    source_format: str
    """Pillow's name for what the file really is (``"PNG"``), whatever its extension."""
    source_size: tuple[int, int]
    """Width and height as displayed, i.e. after the EXIF orientation."""
    output_size: tuple[int, int]
    fit: Fit
    crop: tuple[int, int, int, int]
    """The part of the (upright) source shown: left, top, right, bottom in its pixels."""


def _flatten(image: Image.Image) -> Image.Image:
    """RGB with any transparency composited onto white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # Pillow clips 16-bit grey to 8 bits instead of scaling: scale first.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _check_size(name: str, size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise MediaError(
            f"{name} is {width}x{height} pixels, more than the {MAX_PIXELS // 1_000_000} MP "
            "this pipeline accepts"
        )
    if min(width, height) < MIN_SIDE:
        raise MediaError(
            f"{name} is only {width}x{height} pixels; both sides must be at least {MIN_SIDE}"
        )


def first_frame(image: Image.Image) -> int:
    """The index Pillow gives the first frame an animation shows.

    An APNG may carry a default image that is not part of its animation (the APNG spec's
    IDAT before the first fcTL: shown only by viewers without APNG support). Pillow then
    reads it as frame 0 and sets ``info["default_image"]``; players (browsers, ffmpeg's
    apng demuxer) start with the next one.
    """
    hidden = image.format == "PNG" and bool(image.info.get("default_image"))
    return 1 if hidden and getattr(image, "n_frames", 1) > 1 else 0


def _decode(src: Path) -> tuple[str, Image.Image]:
    """The first frame shown, as upright RGB on white; ``MediaError`` if it cannot be had
    or the file is not of an accepted image type."""
    name = src.name
    try:
        # Our own limit is checked below; Pillow's lower default would only warn.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(src) as image:
                source_format = image.format or "unknown"
                if image_type_of(image.format) is None:
                    raise MediaError(
                        f"{name} is a {source_format} image, not one of the accepted types "
                        f"({accepted('image')})"
                    )
                _check_size(name, image.size)
                image.seek(first_frame(image))
                image.load()
                return source_format, _flatten(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as exc:
        raise MediaError(
            f"{name} claims more than {MAX_PIXELS // 1_000_000} MP; refusing to decode it"
        ) from exc
    except UnidentifiedImageError as exc:
        raise MediaError(f"{name} is not an image Pillow can read{looks_like(src)}") from exc
    except _DECODE_ERRORS as exc:
        raise MediaError(f"{name} is damaged or truncated and cannot be decoded: {exc}") from exc


def crop_box(
    source: tuple[int, int], target: tuple[int, int], centering: tuple[float, float]
) -> tuple[int, int, int, int]:
    """The largest part of ``source`` with ``target``'s aspect, placed by ``centering``."""
    (width, height), (out_w, out_h) = source, target
    if width * out_h > height * out_w:  # wider than the frame: cut the sides
        kept_w, kept_h = round(height * out_w / out_h), height
    else:
        kept_w, kept_h = width, round(width * out_h / out_w)
    left = round((width - kept_w) * centering[0])
    top = round((height - kept_h) * centering[1])
    return (left, top, left + kept_w, top + kept_h)


def normalize_image(
    src: Path, dst: Path, width: int, height: int, fit: Fit | None = None
) -> ImageInfo:
    """Write ``src`` to ``dst`` as an RGB JPEG of exactly ``width`` x ``height``.

    Never stretched. ``cover`` scales to fill the frame and crops the centre; ``contain``
    shows the whole picture on a blurred copy of itself. The default (``None``) covers, but
    crops a picture taller than the frame near its top (``PORTRAIT_FOCUS``), where a
    portrait's face is. ``ImageInfo`` says which fit was used and what part was kept.
    """
    if width < 1 or height < 1:
        raise ValueError(f"target size {width}x{height} must be positive")
    if src.stat().st_size == 0:
        raise MediaError(f"{src.name} is empty (0 bytes)")
    source_format, upright = _decode(src)
    size = (width, height)
    if fit == "contain":
        fitted = ImageOps.fit(upright, size, Image.Resampling.BILINEAR).filter(
            ImageFilter.GaussianBlur(CONTAIN_BLUR)
        )
        shown = ImageOps.contain(upright, size, Image.Resampling.LANCZOS)
        fitted.paste(shown, ((width - shown.width) // 2, (height - shown.height) // 2))
        box = (0, 0, *upright.size)
    else:
        taller = upright.width * height < upright.height * width
        centering = (0.5, PORTRAIT_FOCUS) if fit is None and taller else (0.5, 0.5)
        box = crop_box(upright.size, size, centering)
        fitted = upright.resize(size, Image.Resampling.LANCZOS, box=box)
    # Written aside then renamed, so a crash never leaves a half-written start image.
    partial = dst.with_name(f".{dst.name}.partial")
    fitted.save(partial, "JPEG", quality=JPEG_QUALITY)
    partial.replace(dst)
    return ImageInfo(
        source_format=source_format,
        source_size=upright.size,
        output_size=fitted.size,
        fit=fit or "cover",
        crop=box,
    )
