"""A contact sheet: pairs of frames side by side on one PNG, a label above each pair and
caption lines (the QC figures) under it, composed with Pillow.

``pipeline.media.preview.seam_frames`` gives the pairs of a run: its first and last frame,
then both sides of every seam.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageDraw, ImageFont, ImageOps

TILE_SIDE = 320
"""Longest side of one frame on the contact sheet (px)."""
SHEET_COLUMNS = 2
"""Pairs per row of the contact sheet."""
MARGIN = 16
"""Around the sheet and between pairs (px)."""
PAIR_GAP = 4
"""Between the two frames of one pair (px)."""
FONT_SIZE = 14
"""Pillow's own font (``ImageFont.load_default``) at this size: no font file to ship."""
LINE_HEIGHT = 20
"""Pitch of text lines (px): the font's 14 px plus descenders and a little air."""
MAX_CAPTION_LINES = 12
"""Wrapped lines kept under one pair; more end in an ellipsis line."""
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
LABEL = (255, 205, 110)


class SheetPair(NamedTuple):
    """One pair on the contact sheet: a label above two frames, caption lines below."""

    label: str
    left: Path
    right: Path
    caption: tuple[str, ...] = ()


@dataclass(frozen=True)
class SheetBox:
    """Where one pair was drawn on the sheet: ``(left, top, right, bottom)`` boxes in px."""

    left: tuple[int, int, int, int]
    right: tuple[int, int, int, int]
    caption: tuple[int, int, int, int]


@dataclass(frozen=True)
class Sheet:
    size: tuple[int, int]
    tile: tuple[int, int]
    """Size of each frame on the sheet (the first frame's aspect, ``TILE_SIDE`` long)."""
    boxes: tuple[SheetBox, ...]
    """One per pair, in the order given."""


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """``text`` in lines no wider than ``width`` px in ``font``: at spaces, else mid-word."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while font.getlength(current) > width and len(current) > 1:
            cut = len(current) - 1
            while cut > 1 and font.getlength(current[:cut]) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    return lines


def _tile(path: Path, size: tuple[int, int]) -> Image.Image:
    """The frame at ``path`` scaled to ``size``; one of another shape fitted inside it,
    centred on the background."""
    with Image.open(path) as frame:
        image = frame.convert("RGB")
    if abs(image.width * size[1] - image.height * size[0]) <= max(image.size):
        return image.resize(size, Image.Resampling.LANCZOS)
    fitted = ImageOps.contain(image, size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", size, BACKGROUND)
    canvas.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    return canvas


def contact_sheet(
    pairs: Sequence[SheetPair],
    dest: Path,
    *,
    tile_side: int = TILE_SIDE,
    columns: int = SHEET_COLUMNS,
) -> Sheet:
    """``pairs`` drawn onto one PNG at ``dest``, ``columns`` pairs a row; returns the layout.

    Each pair is its label, the two frames side by side ``PAIR_GAP`` apart (scaled so the
    first frame's longer side is ``tile_side``; frames of another shape are fitted inside),
    then, ``PAIR_GAP`` below, its caption lines, wrapped to the pair's width, at most
    ``MAX_CAPTION_LINES``. Every row is as tall as the pair with the most lines, so the
    grid stays regular.
    """
    if not pairs:
        raise ValueError("a contact sheet needs at least one pair")
    if columns < 1 or tile_side < 2:
        raise ValueError(f"columns ({columns}) and tile_side ({tile_side}) must be positive")
    with Image.open(pairs[0].left) as first:
        scale = tile_side / max(first.size)
        tile = (max(1, round(first.width * scale)), max(1, round(first.height * scale)))
    font = _font()
    line = LINE_HEIGHT
    cell_width = 2 * tile[0] + PAIR_GAP
    captions = []
    for pair in pairs:
        lines = [part for text in pair.caption for part in _wrap(text, font, cell_width)]
        if len(lines) > MAX_CAPTION_LINES:
            lines = [
                *lines[: MAX_CAPTION_LINES - 1],
                f"… {len(lines) - MAX_CAPTION_LINES + 1} more",
            ]
        captions.append(lines)
    caption_height = max(len(lines) for lines in captions) * line
    cell_height = line + tile[1] + PAIR_GAP + caption_height
    used = min(columns, len(pairs))
    rows = -(-len(pairs) // columns)
    size = (
        2 * MARGIN + used * cell_width + (used - 1) * MARGIN,
        2 * MARGIN + rows * cell_height + (rows - 1) * MARGIN,
    )
    sheet = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    boxes = []
    for number, (pair, lines) in enumerate(zip(pairs, captions, strict=True)):
        x = MARGIN + (number % columns) * (cell_width + MARGIN)
        y = MARGIN + (number // columns) * (cell_height + MARGIN)
        draw.text((x, y), pair.label, font=font, fill=LABEL)
        top = y + line
        left_box = (x, top, x + tile[0], top + tile[1])
        right_box = (x + tile[0] + PAIR_GAP, top, x + cell_width, top + tile[1])
        sheet.paste(_tile(pair.left, tile), left_box[:2])
        sheet.paste(_tile(pair.right, tile), right_box[:2])
        caption_top = top + tile[1] + PAIR_GAP
        for row, text in enumerate(lines):
            draw.text((x, caption_top + row * line), text, font=font, fill=TEXT)
        caption_box = (x, caption_top, x + cell_width, caption_top + len(lines) * line)
        boxes.append(SheetBox(left=left_box, right=right_box, caption=caption_box))
    sheet.save(dest, format="PNG", optimize=True)
    return Sheet(size=size, tile=tile, boxes=tuple(boxes))
