"""Segments to one video in a single encode, overlaps dropped by exact frame index."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.domain.errors import InternalError
from pipeline.media.probe import MediaInfo, probe_intermediate
from pipeline.media.process import ffmpeg_command, run_checked

VIDEO_CRF = 19
AUDIO_BITRATE = "128k"


@dataclass(frozen=True)
class StitchSegment:
    path: Path
    drop_leading: int
    """Leading frames that repeat the previous segment's end; dropped exactly once."""


def build_stitch_command(
    segments: Sequence[StitchSegment],
    out: Path,
    *,
    fps: int,
    total_frames: int,
    audio: Path | None = None,
    audio_start_s: float = 0.0,
) -> list[str]:
    """The one ffmpeg run that writes ``out``; pure, so its arguments can be checked."""
    if not segments:
        raise ValueError("nothing to stitch")
    if fps < 1 or total_frames < 1:
        raise ValueError(f"fps ({fps}) and total_frames ({total_frames}) must be positive")
    if audio_start_s < 0 or any(segment.drop_leading < 0 for segment in segments):
        raise ValueError("audio_start_s and drop_leading must not be negative")
    parts = [
        ffmpeg.input(str(segment.path))
        .video.trim(start_frame=segment.drop_leading)
        .setpts("PTS-STARTPTS")
        for segment in segments
    ]
    # Timestamps are rebuilt from the frame index, so every kept frame becomes exactly one
    # output frame at `fps`: nothing for ffmpeg's -r conversion to duplicate or drop.
    video = ffmpeg.concat(*parts, v=1, a=0).trim(end_frame=total_frames).setpts(f"N/({fps}*TB)")
    streams = [video]
    options: dict[str, object] = {
        "vcodec": "libx264",
        "crf": VIDEO_CRF,
        "pix_fmt": "yuv420p",
        "r": fps,
        "movflags": "+faststart",
    }
    if audio is not None:
        duration = total_frames / fps
        # Cut to the video's length and pad with silence if short: the filters, not
        # -shortest (which can cost the last video frames), make the two lengths agree.
        sound = (
            ffmpeg.input(str(audio))
            .audio.filter("asetpts", "PTS-STARTPTS")
            .filter("atrim", start=audio_start_s, duration=duration)
            .filter("asetpts", "PTS-STARTPTS")
            .filter("apad", whole_dur=duration)
        )
        streams.append(sound)
        options.update(acodec="aac", audio_bitrate=AUDIO_BITRATE)
    return ffmpeg_command(ffmpeg.output(*streams, str(out), **options))


def _kept_frames(segments: Sequence[StitchSegment]) -> int:
    # ffprobe start-up dominates a packet count, so the segments are probed side by side.
    with ThreadPoolExecutor(max_workers=min(8, len(segments) or 1)) as pool:
        counts = list(
            pool.map(lambda s: probe_intermediate(s.path, decode=False).frame_count, segments)
        )
    kept = 0
    for segment, counted in zip(segments, counts, strict=True):
        frames = counted or 0
        if segment.drop_leading >= frames:
            raise InternalError(
                f"{segment.path.name} has {frames} frame(s) but {segment.drop_leading} "
                "are to be dropped as overlap"
            )
        kept += frames - segment.drop_leading
    return kept


def _verify(made: MediaInfo, *, fps: int, total_frames: int, audio: bool) -> None:
    if made.frame_count != total_frames:
        raise InternalError(
            f"stitched video has {made.frame_count} frames, the plan needs {total_frames}"
        )
    if not audio:
        return
    if made.audio_duration_s is None:
        raise InternalError("stitched video has no audio track")
    drift = abs(total_frames / fps - made.audio_duration_s)
    if drift > 1 / fps:
        raise InternalError(f"stitched audio and video lengths differ by {drift:.3f} s")


def stitch(
    segments: Sequence[StitchSegment],
    out: Path,
    *,
    fps: int,
    total_frames: int,
    audio: Path | None = None,
    audio_start_s: float = 0.0,
) -> None:
    """Join ``segments`` into ``out`` (H.264 + AAC), exactly ``total_frames`` at ``fps``."""
    kept = _kept_frames(segments)
    if kept < total_frames:
        raise InternalError(
            f"the segments hold {kept} frame(s) after dropping overlaps, but the plan needs "
            f"{total_frames}: the plan and the segments disagree"
        )
    # Encoded aside and renamed once verified, so `out` is never a short or broken video.
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")
    try:
        command = build_stitch_command(
            segments, partial, fps=fps, total_frames=total_frames,
            audio=audio, audio_start_s=audio_start_s,
        )  # fmt: skip
        run_checked(command, what=f"stitch {len(segments)} segment(s) into {out.name}")
        # Our own libx264 MP4: one packet per frame, so counting packets is exact here.
        made = probe_intermediate(partial, decode=False)
        _verify(made, fps=fps, total_frames=total_frames, audio=audio is not None)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
