"""A file's streams as ffmpeg's ``framecrc`` muxer lists them while it copies them: the
video's size and the audio's presence and length, with nothing decoded.

``framecrc`` (``libavformat/framecrc.c`` and ``framehash.c``, ffmpeg 5.1; "framecrc" in
ffmpeg-formats(1)) writes, per output stream, header lines ``#tb N: num/den``,
``#media_type N: video|audio``, ``#dimensions N: WxH`` (video), then one line per packet:
``stream_index, dts, pts, duration, size, 0xCRC[, side data]``. The quality gate adds it as
one more output of its own ffmpeg pass (``copy_args``), so the segment needs no ffprobe.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import ffmpeg

VIDEO, AUDIO = 0, 1
"""The output streams ``copy_args`` maps: the first video, then the first audio (if any)."""


@dataclass(frozen=True)
class Packets:
    """What the listing says of the first video and first audio stream; sizes in pixels,
    durations in seconds (the audio's from its first presented sample at or after 0 to the
    end of its last packet, as ffprobe's stream duration counts it)."""

    width: int | None
    height: int | None
    has_audio: bool
    audio_duration_s: float | None


def copy_args(source: Any, path: str) -> Any:
    """An ffmpeg-python output listing ``source``'s first video and first audio to ``path``."""
    return ffmpeg.output(source["v:0"], source["a:0?"], path, c="copy", f="framecrc")


def parse_packets(text: str) -> Packets:
    """The ``framecrc`` listing's figures; raises ``ValueError`` on a line it cannot read."""
    time_base: dict[int, Fraction] = {}
    width = height = None
    audio_types = False
    start: int | None = None
    end: int | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            name, _, value = line[1:].partition(":")
            kind, _, index = name.partition(" ")
            value = value.strip()
            if kind == "tb":
                time_base[int(index)] = Fraction(value)
            elif kind == "dimensions" and int(index) == VIDEO:
                width, height = (int(side) for side in value.split("x"))
            elif kind == "media_type" and int(index) == AUDIO:
                audio_types = value == "audio"
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 6:
            continue
        stream, pts, duration = int(fields[0]), int(fields[2]), int(fields[3])
        if stream == AUDIO:
            start = max(0, pts) if start is None else min(start, max(0, pts))
            end = pts + duration if end is None else max(end, pts + duration)
    audio_duration = None
    if audio_types and start is not None and end is not None:
        audio_duration = float((end - start) * time_base[AUDIO])
    return Packets(width, height, audio_types, audio_duration)
