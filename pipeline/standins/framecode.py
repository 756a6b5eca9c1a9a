"""Frame numbers that survive video encoding: drawn as text for people, as blocks for tests.

comfy-sim stamps every frame it renders with its global frame number: the number as text
near the top, and a strip of large black/white blocks along the bottom edge that encodes
the same number. The blocks survive H.264 and JPEG because each bit is a large flat area
read back by its mean brightness, so a test can decode any frame of a stitched video and
check that the sequence has no duplicate and no gap.

Strip layout (left to right, equal-width cells): 4 preamble bits ``1010``, 16 bits of the
number (MSB first), 4 bits of checksum (the number's nibbles XOR-ed). An image without a
valid strip (a user's photo) decodes to ``None``.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont, ImageStat

PREAMBLE = (1, 0, 1, 0)
NUMBER_BITS = 16
CHECK_BITS = 4
CELLS = len(PREAMBLE) + NUMBER_BITS + CHECK_BITS
MAX_NUMBER = 2**NUMBER_BITS - 1
_WHITE, _BLACK = (255, 255, 255), (0, 0, 0)
_MIN_MARGIN = 48
"""A cell's mean must be this far from mid-grey to count as a bit: rejects photos."""


def _checksum(number: int) -> int:
    return (number ^ (number >> 4) ^ (number >> 8) ^ (number >> 12)) & 0xF


def _bits(number: int) -> list[int]:
    payload = [(number >> shift) & 1 for shift in range(NUMBER_BITS - 1, -1, -1)]
    check = _checksum(number)
    return [*PREAMBLE, *payload, *((check >> s) & 1 for s in range(CHECK_BITS - 1, -1, -1))]


def strip_height(height: int) -> int:
    return max(8, height // 8)


def _cells(width: int, height: int) -> list[tuple[int, int, int, int]]:
    top = height - strip_height(height)
    return [(width * i // CELLS, top, width * (i + 1) // CELLS, height) for i in range(CELLS)]


def stamp(image: Image.Image, number: int) -> Image.Image:
    """A copy of ``image`` (RGB) with ``number`` drawn as text and encoded as blocks."""
    if not 0 <= number <= MAX_NUMBER:
        raise ValueError(f"frame number {number} outside 0..{MAX_NUMBER}")
    width, height = image.size
    if width < CELLS * 4 or height < 32:
        raise ValueError(f"{width}x{height} is too small to carry a frame code")
    framed = image.convert("RGB")
    draw = ImageDraw.Draw(framed)
    for bit, box in zip(_bits(number), _cells(width, height), strict=True):
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=_WHITE if bit else _BLACK)
    font = ImageFont.load_default(size=max(12, height // 10))
    label = f"frame {number}"
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    pad = 4
    draw.rectangle((0, 0, right - left + 2 * pad, bottom - top + 2 * pad), fill=_BLACK)
    draw.text((pad - left, pad - top), label, font=font, fill=_WHITE)
    return framed


def read(image: Image.Image) -> int | None:
    """The number a frame carries, or ``None`` if it carries no valid code."""
    width, height = image.size
    if width < CELLS * 4 or height < 32:
        return None
    grey = image.convert("L")
    bits: list[int] = []
    for x0, y0, x1, y1 in _cells(width, height):
        # Sample the cell's middle so codec ringing at the edges cannot flip a bit.
        inset_x, inset_y = (x1 - x0) // 4, (y1 - y0) // 4
        mean = ImageStat.Stat(grey.crop((x0 + inset_x, y0 + inset_y, x1 - inset_x, y1 - inset_y)))
        level = mean.mean[0]
        if abs(level - 128) < _MIN_MARGIN:
            return None
        bits.append(1 if level > 128 else 0)
    if tuple(bits[: len(PREAMBLE)]) != PREAMBLE:
        return None
    payload = bits[len(PREAMBLE) : len(PREAMBLE) + NUMBER_BITS]
    number = int("".join(map(str, payload)), 2)
    check = int("".join(map(str, bits[-CHECK_BITS:])), 2)
    return number if check == _checksum(number) else None
