"""Fake Wan output frames and real H.264 files made from them with ffmpeg.

Every generated frame is the start image (cover-fitted, slowly zooming so it looks like motion)
stamped with its frame code: the start image's own code (0 if it has none) plus the frame's
index. A segment conditioned on the previous segment's last frame therefore continues the
numbering, which is how tests find seams, gaps and duplicates. A defect
(``faults.DEFECTS``) spoils the frames' pixels and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from PIL import Image, ImageOps

from pipeline.media.probe import probe
from pipeline.standins import framecode
from pipeline.standins.comfy_sim.faults import TINT_RGB, Fault, FaultKind
from pipeline.standins.comfy_sim.values import Audio, ImageBatch

FFMPEG = "ffmpeg"
_BT709 = (
    "-color_primaries",
    "bt709",
    "-color_trc",
    "bt709",
    "-colorspace",
    "bt709",
    "-color_range",
    "tv",
)
"""The colour tags of ComfyUI 0.33.0's SDR H.264 output."""
ZOOM_DRIFT = 0.08
"""How much the last frame is zoomed in relative to the first."""


def _background(width: int, height: int) -> Image.Image:
    """A neutral diagonal gradient for graphs without a start image."""
    ramp = Image.linear_gradient("L").resize((width, height))
    across = Image.linear_gradient("L").rotate(90).resize((width, height))
    return Image.merge("RGB", (ramp, across, Image.new("L", (width, height), 128)))


def _stampable(width: int, height: int) -> bool:
    return width >= framecode.CELLS * 4 and height >= 32


def _tinted(image: Image.Image) -> Image.Image:
    bands = [
        band.point([min(255, max(0, value + shift)) for value in range(256)])
        for band, shift in zip(image.split(), TINT_RGB, strict=True)
    ]
    return Image.merge("RGB", bands)


def video_frames(
    width: int, height: int, length: int, start: Image.Image | None, defect: Fault | None = None
) -> ImageBatch:
    """``length`` frames of ``width`` x ``height`` continuing ``start``'s frame code, spoiled
    as ``defect`` says (``faults``: black or frozen from a frame on, tinted, or rendered from
    the inverted start so the first frame jumps)."""
    first = (framecode.read(start) or 0) if start is not None else 0
    base = (
        ImageOps.fit(start.convert("RGB"), (width, height), Image.Resampling.BILINEAR)
        if start is not None
        else _background(width, height)
    )
    kind = defect.kind if defect is not None else None
    if kind is FaultKind.JUMP:
        base = ImageOps.invert(base)
    spoiled_from = defect.spoiled_from(length) if defect is not None else length
    stamp = _stampable(width, height)

    def normal(index: int) -> Image.Image:
        zoom = 1 + ZOOM_DRIFT * index / max(1, length - 1)
        crop_w, crop_h = width / zoom, height / zoom
        left, top = (width - crop_w) / 2, (height - crop_h) / 2
        frame = base.resize(
            (width, height), Image.Resampling.BILINEAR, box=(left, top, left + crop_w, top + crop_h)
        )
        return framecode.stamp(frame, first + index) if stamp else frame

    def render(index: int) -> Image.Image:
        if index < spoiled_from:
            return normal(index)
        if kind is FaultKind.BLACK:
            return Image.new("RGB", (width, height))
        if kind is FaultKind.FREEZE:
            return normal(spoiled_from)
        return _tinted(normal(index)) if kind is FaultKind.TINT else normal(index)

    return ImageBatch(width, height, length, render)


async def _run(args: list[str], feed: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stderr is not None
    try:
        # ffmpeg quitting early shows up as a broken pipe; its stderr says why.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await feed(proc.stdin)
            proc.stdin.close()
        stderr = await proc.stderr.read()
        code = await proc.wait()
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    if code != 0:
        raise RuntimeError(f"ffmpeg exited with {code}: {stderr.decode(errors='replace').strip()}")


def _audio_args(audio: Audio, seconds: float, pad: bool) -> tuple[list[str], list[str]]:
    """Input and output args for AAC audio cut to ``seconds``, and padded to them if ``pad``
    (VideoHelperSuite pads; ComfyUI 0.33.0's ``SaveVideo`` does not)."""
    return (
        [
            *(["-ss", f"{audio.offset_s:.6f}"] if audio.offset_s else []),
            "-t",
            f"{min(seconds, audio.duration_s):.6f}",
            "-i",
            str(audio.path),
        ],
        ["-map", "1:a:0", "-c:a", "aac", *(["-af", f"apad=whole_dur={seconds:.6f}"] * pad)],
    )


async def encode_mp4(
    frames: ImageBatch,
    fps: float,
    out: Path,
    audio: Audio | None = None,
    on_frame: Callable[[int], Awaitable[None]] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Encode every frame to H.264 High yuv420p at ``fps``, tagged BT.709 / tv range, moov
    first, with ``metadata`` as container tags; mux ``audio`` cut (never padded) to the video.

    That is what ComfyUI 0.33.0's ``SaveVideo`` writes (``comfy_api/latest/_input_impl/
    video_types.py``: the graph as a ``prompt`` tag, SDR output tagged BT.709).
    """
    audio_in, audio_out = _audio_args(audio, frames.count / fps, pad=False) if audio else ([], [])
    tags = [
        arg for key, value in (metadata or {}).items() for arg in ("-metadata", f"{key}={value}")
    ]
    args = [
        FFMPEG,
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{frames.width}x{frames.height}",
        "-framerate",
        f"{fps:g}",
        "-i",
        "-",
        *audio_in,
        "-map",
        "0:v:0",
        "-vf",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        *_BT709,
        *audio_out,
        *tags,
        "-movflags",
        "+faststart+use_metadata_tags",
        str(out),
    ]

    async def feed(stdin: asyncio.StreamWriter) -> None:
        for index in range(frames.count):
            frame = await asyncio.to_thread(frames.frame, index)
            stdin.write(frame.convert("RGB").tobytes())
            await stdin.drain()
            if on_frame is not None:
                await on_frame(index)

    await _run(args, feed)


async def mux_audio(video: Path, audio: Audio, seconds: float, out: Path, *, pad: bool) -> None:
    """Copy ``video``'s stream and add ``audio`` cut to ``seconds`` (padded to them if ``pad``)."""
    audio_in, audio_out = _audio_args(audio, seconds, pad)
    args = [
        FFMPEG,
        "-v",
        "error",
        "-y",
        "-i",
        str(video),
        *audio_in,
        "-map",
        "0:v:0",
        "-c:v",
        "copy",
        *audio_out,
        str(out),
    ]

    async def feed(stdin: asyncio.StreamWriter) -> None:
        return None

    await _run(args, feed)


def decode_frames(video: Path) -> ImageBatch:
    """Every frame of ``video`` (what ComfyUI's ``GetVideoComponents`` gives), decoded now."""
    info = probe(video)
    if not info.width or not info.height:
        raise ValueError(f"{video.name} has no video stream")
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    size = info.width * info.height * 3
    frames = [
        Image.frombytes("RGB", (info.width, info.height), raw[i : i + size])
        for i in range(0, len(raw) - size + 1, size)
    ]
    return ImageBatch.of(frames)
