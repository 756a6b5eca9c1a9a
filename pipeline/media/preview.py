"""Previews of a run a person can look at without downloading it: small files, one ffmpeg
pass each.

- ``segment_preview``: a segment as a small H.264 MP4, made as soon as the segment exists;
- ``poster``: one frame of the combined video as a JPEG;
- ``seam_frames`` and ``contact_sheet``: the first and last frame and both sides of every
  seam, drawn side by side with the lines given for each pair (the QC figures) under them.

Frames are chosen by index in decode order (ffmpeg's ``trim``/``select`` count decoded
frames), as ``pipeline.media.frames`` chooses them, never by seeking to a time.
Files the pipeline made that ffmpeg cannot read raise ``InternalError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import ffmpeg
from PIL import Image, ImageDraw, ImageFont, ImageOps

from pipeline.domain.errors import InternalError
from pipeline.domain.frames.plan import FramePlan
from pipeline.domain.frames.seams import seams
from pipeline.media.probe import MediaInfo, probe_intermediate
from pipeline.media.process import ffmpeg_command, run_checked

PREVIEW_MAX_SIDE = 320
"""Longest side of a segment preview (px): a thumbnail a status page or a chat message plays
inline; 832x480 becomes 320x184."""
PREVIEW_CRF = 30
"""x264 quality for previews: visibly softer than the delivery (``stitch.VIDEO_CRF`` 19) but
faces and motion stay readable at 320 px. An 81-frame 832x480 segment at 16 fps becomes
tens of kB (see ``tests/unit/test_media_preview.py`` and the branch report)."""
PREVIEW_MAXRATE = "400k"
"""Cap on the video bitrate (with a 2 s buffer at the frame rates Wan renders), so noisy
content cannot make a preview larger than a thumbnail should be."""
PREVIEW_PRESET = "veryfast"
"""x264 speed: a preview costs a fraction of the segment's stitch time on the CPU worker."""
PREVIEW_AUDIO_BITRATE = "48k"
"""Mono AAC at 48 kb/s: speech stays intelligible (the audio kinds drive talking heads);
music sounds thin, which a preview may."""
POSTER_QSCALE = 3
"""ffmpeg's MJPEG quantiser (2 best .. 31 worst): about libjpeg quality 90."""

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


def preview_size(width: int, height: int, max_side: int = PREVIEW_MAX_SIDE) -> tuple[int, int]:
    """``width`` x ``height`` scaled (never up) so neither side exceeds ``max_side``, both
    even (yuv420p halves the chroma planes, so H.264 in 4:2:0 needs even dimensions)."""
    if width < 1 or height < 1 or max_side < 2:
        raise ValueError(f"cannot fit {width}x{height} into {max_side} px")
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _partial(dest: Path) -> Path:
    return dest.with_name(f".{dest.stem}.partial{dest.suffix}")


def segment_preview(src: Path, dest: Path, *, max_side: int = PREVIEW_MAX_SIDE) -> MediaInfo:
    """``src`` as a small MP4 at ``dest``; returns what ``dest`` holds.

    H.264 (``PREVIEW_CRF``, capped at ``PREVIEW_MAXRATE``) in yuv420p, at most ``max_side``
    px on the longer side with even dimensions, every frame kept with its timestamp (same
    frame count and duration as ``src``), ``+faststart`` so a browser plays it while it
    loads, and the audio as mono AAC at ``PREVIEW_AUDIO_BITRATE`` when ``src`` has audio.
    ``InternalError`` when ``src`` is unreadable or the preview's frame count differs.
    """
    source = probe_intermediate(src, decode=False)
    if not source.has_video or source.width is None or source.height is None:
        raise InternalError(f"{src.name} has no video to preview")
    width, height = preview_size(source.width, source.height, max_side)
    media = ffmpeg.input(str(src))
    streams = [media.video.filter("scale", width, height).filter("setsar", 1)]
    options: dict[str, object] = {
        "vcodec": "libx264",
        "preset": PREVIEW_PRESET,
        "crf": PREVIEW_CRF,
        "maxrate": PREVIEW_MAXRATE,
        "bufsize": "800k",
        "pix_fmt": "yuv420p",
        "movflags": "+faststart",
        # Every decoded frame out, with its own timestamp: nothing duplicated or dropped.
        "fps_mode": "passthrough",
    }
    if source.has_audio:
        streams.append(media.audio)
        options.update(acodec="aac", audio_bitrate=PREVIEW_AUDIO_BITRATE, ac=1)
    partial = _partial(dest)
    try:
        run_checked(
            ffmpeg_command(ffmpeg.output(*streams, str(partial), **options)),
            what=f"make a preview of {src.name}",
        )
        # Our own libx264 MP4: one packet per frame, so counting packets is exact.
        made = probe_intermediate(partial, decode=False)
        if made.frame_count != source.frame_count:
            raise InternalError(
                f"the preview of {src.name} has {made.frame_count} frames, "
                f"the segment {source.frame_count}"
            )
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return made


def poster(src: Path, dest: Path, *, at: int | None = None) -> int:
    """Frame ``at`` of ``src`` as a JPEG at ``dest``, full size; returns the frame's index.

    By default the middle frame (``frame_count // 2``): an I2V run's first frame is the
    user's own start image and an audio kind's last frames may fall in the silence the
    plan padded, so the middle is the frame most likely to show what the model made; with
    one segment of 81 frames it is frame 40, 2.5 s in at 16 fps. ``ValueError`` when ``at``
    lies outside the video.
    """
    frames = probe_intermediate(src, decode=False).frame_count or 0
    index = frames // 2 if at is None else at
    if not 0 <= index < frames:
        raise ValueError(f"{src.name} has {frames} frame(s); there is no frame {index}")
    picked = ffmpeg.input(str(src)).video.trim(start_frame=index, end_frame=index + 1)
    # MJPEG wants full-range YUV (yuvj420p); frames:v 1 stops the decode at the frame.
    out = picked.output(
        str(dest), vcodec="mjpeg", pix_fmt="yuvj420p", frames=1, **{"q:v": POSTER_QSCALE}
    )
    run_checked(ffmpeg_command(out), what=f"take frame {index} of {src.name} as a poster")
    if not dest.is_file():
        raise InternalError(f"ffmpeg wrote no poster for frame {index} of {src.name}")
    return index


def extract_frames(video: Path, indices: Sequence[int], out_dir: Path) -> dict[int, Path]:
    """Frames ``indices`` of ``video`` as RGB PNGs in ``out_dir``, in one decode; by index.

    ``InternalError`` when the video has fewer frames than the highest index asked for.
    """
    wanted = sorted(set(indices))
    if not wanted or wanted[0] < 0:
        raise ValueError(f"frame indices must be given and not negative, not {list(indices)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    pattern = str(out_dir / "frame").replace("%", "%%") + "_%06d.png"
    chosen = "+".join(f"eq(n,{index})" for index in wanted)
    stream = (
        ffmpeg.input(str(video))
        .video.filter("select", chosen)
        .output(pattern, vcodec="png", pix_fmt="rgb24", start_number=0, fps_mode="passthrough")
    )
    run_checked(ffmpeg_command(stream), what=f"extract {len(wanted)} frame(s) of {video.name}")
    # image2 numbers what it writes 0, 1, ... in the order select passed the frames.
    written = [out_dir / f"frame_{number:06d}.png" for number in range(len(wanted))]
    missing = [index for index, path in zip(wanted, written, strict=True) if not path.is_file()]
    if missing:
        raise InternalError(f"{video.name} has no frame {missing[0]} (asked for {wanted})")
    named = {}
    for index, path in zip(wanted, written, strict=True):
        named[index] = path.replace(out_dir / f"{video.stem}_{index:06d}.png")
    return named


class SheetPair(NamedTuple):
    """One pair on the contact sheet: a label above two frames, caption lines below."""

    label: str
    left: Path
    right: Path
    caption: tuple[str, ...] = ()


def seam_frames(video: Path, plan: FramePlan, out_dir: Path) -> list[SheetPair]:
    """The combined ``video``'s pairs for the contact sheet, frames extracted in one pass.

    First the run's first and last frame, then per seam (``frames.seams``) the last frame
    before it and the first after; each pair's caption starts with where its frames are
    (``frames 80 | 81, 5.00 s``). Taken from the combined video rather than the segment
    files: it is what is delivered, and one download and one decode give every frame.
    """
    last = plan.final_frames - 1
    joins = seams(plan)
    indices = [0, last, *(i for seam in joins for i in (seam.last_before, seam.first_after))]
    frames = extract_frames(video, indices, out_dir)
    pairs = [
        SheetPair(
            "first | last",
            frames[0],
            frames[last],
            (f"frames 0 | {last} of {plan.final_frames} ({plan.final_frames / plan.fps:.2f} s)",),
        )
    ]
    for seam in joins:
        pairs.append(
            SheetPair(
                f"seam {seam.number}: segment {seam.segment_before} | {seam.segment_after}",
                frames[seam.last_before],
                frames[seam.first_after],
                (f"frames {seam.last_before} | {seam.first_after}, {seam.time_s(plan.fps):.2f} s",),
            )
        )
    return pairs


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
    partial = _partial(dest)
    try:
        sheet.save(partial, format="PNG", optimize=True)
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return Sheet(size=size, tile=tile, boxes=tuple(boxes))
