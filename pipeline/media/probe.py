"""What a media file holds, from ffprobe, with the exact number of decodable frames.

Of several audio tracks the one used is the one players play: the first marked as the
container's default (ffprobe's ``disposition.default``: MP4's enabled track, Matroska's
FlagDefault), else the first audio track (``choose_audio``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pipeline.domain.errors import InternalError, MediaError
from pipeline.media.process import FFPROBE, run, stderr_tail
from pipeline.media.sniff import looks_like

TrackReason = Literal["only", "default", "first"]
"""Why a track drives the video: the file's only audio track, the first marked default,
or the first of several none of which is marked."""


@dataclass(frozen=True)
class AudioTrack:
    """The audio track a file's audio is taken from."""

    index: int
    """Among the file's audio tracks, from 0: ffmpeg's stream specifier ``a:{index}``."""
    stream: int
    """ffprobe's stream index in the whole file."""
    tracks: int
    """How many audio tracks the file has."""
    reason: TrackReason
    language: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class MediaInfo:
    """A probed file. Video fields are ``None`` without video, audio fields without audio."""

    duration_s: float
    has_video: bool
    width: int | None
    height: int | None
    fps: Fraction | None
    frame_count: int | None
    """Frames the decoder actually produces (``ffprobe -count_frames``), not a header guess."""
    has_audio: bool
    audio_duration_s: float | None
    audio_sample_rate: int | None
    audio_track: AudioTrack | None = None
    """Which audio track the audio fields describe (``choose_audio``)."""
    format_name: str = ""
    """ffprobe's demuxer names, comma-separated (``"mov,mp4,m4a,3gp,3g2,mj2"``)."""


def build_probe_command(path: Path, *, decode: bool = True) -> list[str]:
    # -count_frames decodes every stream: the only frame count that matches what
    # ffmpeg's trim/select filters will see, whatever the container's header claims.
    # -count_packets only demuxes (~6x faster): exact for MP4/H.264 without packed frames,
    # i.e. for the files ComfyUI and this pipeline write, not for arbitrary user media.
    count = "-count_frames" if decode else "-count_packets"
    return [
        FFPROBE, "-v", "error", count,
        "-show_format", "-show_streams", "-of", "json", str(path),
    ]  # fmt: skip


def _fraction(value: object) -> Fraction | None:
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def _seconds(value: object) -> float | None:
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _first(streams: list[dict[str, Any]], codec_type: str) -> dict[str, Any] | None:
    for stream in streams:
        # Cover art in an audio file is a one-picture "video" stream, not a video.
        if stream.get("codec_type") == codec_type and not stream.get("disposition", {}).get(
            "attached_pic"
        ):
            return stream
    return None


def choose_audio(streams: list[dict[str, Any]]) -> tuple[dict[str, Any], AudioTrack] | None:
    """The audio stream players play from ffprobe's ``streams``, and which it is; ``None``
    without audio.

    The first with ``disposition.default`` set (Matroska's FlagDefault, MP4's enabled
    track: the track players play unless told otherwise), else the first audio track.
    """
    audio = [stream for stream in streams if stream.get("codec_type") == "audio"]
    if not audio:
        return None
    marked = [n for n, stream in enumerate(audio) if stream.get("disposition", {}).get("default")]
    index = marked[0] if marked else 0
    reason: TrackReason = "only" if len(audio) == 1 else "default" if marked else "first"
    chosen = audio[index]
    tags = {str(key).lower(): str(value) for key, value in chosen.get("tags", {}).items()}
    return chosen, AudioTrack(
        index=index,
        stream=int(chosen.get("index", index)),
        tracks=len(audio),
        reason=reason,
        language=tags.get("language"),
        title=tags.get("title"),
    )


def _parse(path: Path, report: dict[str, Any]) -> MediaInfo:
    streams: list[dict[str, Any]] = report.get("streams", [])
    chosen = choose_audio(streams)
    video, audio = _first(streams, "video"), chosen[0] if chosen else None
    if video is None and audio is None:
        raise MediaError(f"{path.name} has no video or audio stream{looks_like(path)}")
    counted = video.get("nb_read_frames", video.get("nb_read_packets", 0)) if video else None
    frame_count = None if counted is None else int(counted)
    if video is not None and not frame_count:
        raise MediaError(f"{path.name} has a video stream with no decodable frame")
    duration = _seconds(report.get("format", {}).get("duration"))
    if duration is None:
        duration = max(
            (_seconds(stream.get("duration")) or 0.0 for stream in (video, audio) if stream),
            default=0.0,
        )
    audio_duration = None
    if audio is not None:
        # Some containers (Matroska) give no per-stream duration; the file's is next best.
        audio_duration = _seconds(audio.get("duration")) or duration
    fps = None
    if video is not None:
        fps = _fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate"))
    return MediaInfo(
        duration_s=duration,
        has_video=video is not None,
        width=int(video["width"]) if video else None,
        height=int(video["height"]) if video else None,
        fps=fps,
        frame_count=frame_count,
        has_audio=audio is not None,
        audio_duration_s=audio_duration,
        audio_sample_rate=int(audio["sample_rate"]) if audio and "sample_rate" in audio else None,
        audio_track=chosen[1] if chosen else None,
        format_name=str(report.get("format", {}).get("format_name", "")),
    )


def probe(path: Path, *, decode: bool = True) -> MediaInfo:
    """Probe a user's file: anything ffprobe cannot read as audio/video is a ``MediaError``."""
    if not path.is_file():
        raise InternalError(f"cannot probe {path}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name} is empty (0 bytes)")
    done = run(build_probe_command(path, decode=decode))
    if done.returncode != 0:
        # ffprobe names the file by its full local path; the user knows only its name.
        reason = stderr_tail(done.stderr, lines=1).replace(str(path), path.name)
        raise MediaError(
            f"{path.name} is not a video or audio file ffmpeg can read{looks_like(path)}: {reason}",
            detail={"stderr": stderr_tail(done.stderr)},
        )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise InternalError(f"ffprobe printed invalid JSON for {path.name}") from exc
    return _parse(path, report)


def probe_intermediate(path: Path, *, decode: bool = True) -> MediaInfo:
    """Probe a file the pipeline made itself: unreadable means our bug, not the user's."""
    try:
        return probe(path, decode=decode)
    except MediaError as exc:
        raise InternalError(f"our own intermediate file is unreadable: {exc.message}") from exc
