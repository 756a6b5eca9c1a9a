"""Previews of a run a person can look at without downloading it: small files, one ffmpeg
pass each.

- ``segment_preview``: a segment as a small H.264 MP4, made as soon as the segment exists;
- ``poster``: one frame of the combined video as a JPEG;
- ``seam_frames``: the first and last frame and both sides of every seam, as the pairs
  ``pipeline.media.contact_sheet`` draws side by side with the QC figures under them.

Frames are chosen by index in decode order (ffmpeg's ``trim``/``select`` count decoded
frames), as ``pipeline.media.frames`` chooses them, never by seeking to a time.
Files the pipeline made that ffmpeg cannot read raise ``InternalError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ffmpeg

from pipeline.domain.errors import InternalError
from pipeline.domain.frames.plan import FramePlan
from pipeline.domain.frames.seams import seams
from pipeline.media.contact_sheet import SheetPair
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


def preview_size(width: int, height: int, max_side: int = PREVIEW_MAX_SIDE) -> tuple[int, int]:
    """``width`` x ``height`` scaled (never up) so neither side exceeds ``max_side``, both
    even (yuv420p halves the chroma planes, so H.264 in 4:2:0 needs even dimensions)."""
    if width < 1 or height < 1 or max_side < 2:
        raise ValueError(f"cannot fit {width}x{height} into {max_side} px")
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


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
    partial = dest.with_name(f".{dest.stem}.partial{dest.suffix}")
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
